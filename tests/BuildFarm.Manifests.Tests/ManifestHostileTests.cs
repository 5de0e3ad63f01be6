using System.Diagnostics;
using System.Text;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;

namespace BuildFarm.Manifests.Tests;

/// <summary>
/// Issue 12 §2: manifests that overflowed the stack (a key that contains itself, 40,000 nested lists) or pinned a core
/// (an alias chain used as a key) before the parser bounded its input, and a seeded fuzz run of generated YAML. A stack
/// overflow would end the test process: these tests pass only because nothing recursive ever sees such input. Set
/// <c>BUILDFARM_FUZZ_SEED</c> to replay a run.
/// </summary>
public sealed class ManifestHostileTests
{
    private const string Context = "git://github.com/acme/mono.git#main";

    private static ManifestError Refused(string yaml)
    {
        var started = Stopwatch.StartNew();
        var e = Assert.Throws<ManifestException>(() => ManifestParser.Parse(yaml, "hostile.yaml"));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void SelfContainingKey_IsRefused()
    {
        var error = Refused("images:\n  - ? &k [*k]\n    : x\n");
        Assert.Contains("key must be a plain string", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void SelfContainingValue_IsRefused()
    {
        Assert.Contains("refers to a node that contains it", Refused("images: &k [*k]\n").Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData('[', ']')]
    [InlineData('{', '}')]
    public void FortyThousandNestedLevels_AreRefused(char open, char close)
    {
        var inner = open == '{' ? string.Concat(Enumerable.Repeat("{a: ", 40_000)) + "x" : new string(open, 40_000);
        var error = Refused("images: " + inner + new string(close, 40_000) + "\n");
        Assert.Contains($"nested more than {YamlLimits.Default.MaxDepth} deep", error.Message, StringComparison.Ordinal);
    }

    /// <summary>YamlDotNet's loader accepts an alias before its anchor and resolves it at the end of the document, so a scan
    /// that stopped at the unknown alias let the loader build 40,000 nested lists after it (a stack overflow, exit 134).</summary>
    [Fact]
    public void AliasWithoutAnchor_ThenDeepNesting_IsRefusedAtTheAlias()
    {
        var error = Refused("images: *nope\nrest: " + new string('[', 40_000) + new string(']', 40_000) + "\n");
        Assert.Contains("alias *nope has no anchor", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void BlockNesting_IsRefusedToo()
    {
        var yaml = new StringBuilder("images:\n");
        for (var i = 0; i < 200; i++)
        {
            yaml.Append(new string(' ', 2 * (i + 1))).Append("a:\n");
        }
        Assert.Contains("nested more than", Refused(yaml.ToString()).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(20, true)]
    [InlineData(9, false)]
    public void AliasChains_AreRefused(int levels, bool asKey)
    {
        var yaml = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < levels; i++)
        {
            yaml.Append(FormattableString.Invariant($"a{i}: &a{i} [")).Append(string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))).Append("]\n");
        }
        yaml.Append(asKey ? $"images:\n  - ? *a{levels - 1}\n    : y\n" : $"images:\n  - name: x\n    labels: *a{levels - 1}\n");
        var error = Refused(yaml.ToString());
        Assert.Matches("key must be a plain string|once aliases are expanded", error.Message);
    }

    [Fact]
    public void TooManyAliases_AreRefused()
    {
        var yaml = "x: &x a\nl: [" + string.Join(", ", Enumerable.Repeat("*x", YamlLimits.Default.MaxAliases + 1)) + "]\nimages: []\n";
        Assert.Contains("aliases", Refused(yaml).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OrdinaryAnchorsAndAliases_StillWork()
    {
        var manifest = ManifestParser.Parse($"""
            images:
              - name: api
                context: {Context}
                destinations: &dest ["registry.example.com/acme/api:1"]
                labels: &labels {"{"} team: payments {"}"}
              - name: worker
                context: {Context}
                destinations: ["registry.example.com/acme/worker:1"]
                labels: *labels
            """, "ok.yaml");
        Assert.Equal(2, manifest.Images.Count);
    }

    [Fact]
    public void Fuzz_GeneratedYaml_OnlyManifestErrors_BoundedTime()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("BUILDFARM_FUZZ_SEED"), out var s) ? s : 20261205;
        var random = new Random(seed);
        const int Cases = 3000;
        var started = Stopwatch.StartNew();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < Cases; i++)
        {
            var yaml = Generate(random);
            var one = Stopwatch.StartNew();
            try
            {
                ManifestParser.Parse(yaml, "fuzz.yaml");
            }
            catch (ManifestException)
            {
                // a refusal with line and column: what is expected of most of these
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed} case {i}: {e.GetType().Name}: {e.Message}\n{(yaml.Length > 500 ? yaml[..500] : yaml)}");
            }
            Assert.True(one.Elapsed < TimeSpan.FromSeconds(5), $"seed {seed} case {i}: took {one.Elapsed}");
        }
        var grew = GC.GetTotalMemory(forceFullCollection: true) - memoryBefore;
        Assert.True(grew < 64L * 1024 * 1024, $"seed {seed}: memory grew by {grew / 1024 / 1024} MB");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(60), $"seed {seed}: {Cases} cases took {started.Elapsed}");
        Console.WriteLine($"manifest fuzz: seed {seed}, {Cases} cases in {started.Elapsed.TotalSeconds:0.0} s");
    }

    private static readonly string[] Tokens =
    [
        "[", "]", "{", "}", ", ", ": ", "? ", "- ", "\n", "\n  ", "\n    ", "&a ", "&b ", "*a", "*b", "!!str ", "!!binary ", "'q'", "\"\\u0000\"",
        "name", "images", "defaults", "context", "destinations", "dependsOn", "resources", "cpuRequest", "1e999999999", "~", "null",
        "|\n  x\n", ">-\n  y\n", "---\n", "...\n", "%YAML 1.2\n", "#c\n", "<<: *a\n", "\t", "\u3000", "\ufeff", "\0",
    ];

    private static string Generate(Random random)
    {
        switch (random.Next(6))
        {
            case 0:
                var depth = random.Next(1, 3000);
                return "images: " + new string('[', depth) + (random.Next(2) == 0 ? new string(']', depth) : "");
            case 1:
                var yaml = new StringBuilder("images:\n");
                var levels = random.Next(1, 120);
                for (var i = 0; i < levels; i++)
                {
                    yaml.Append(new string(' ', 2 * (i + 1))).Append(random.Next(2) == 0 ? "- " : "k: ").Append('\n');
                }
                return yaml.ToString();
            case 2:
                var chain = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
                var count = random.Next(2, 30);
                var fan = random.Next(1, 20);
                for (var i = 1; i < count; i++)
                {
                    chain.Append(FormattableString.Invariant($"a{i}: &a{i} [")).Append(string.Join(", ", Enumerable.Repeat($"*a{i - 1}", fan))).Append("]\n");
                }
                chain.Append(random.Next(2) == 0 ? $"images:\n  - ? *a{count - 1}\n    : y\n" : $"images:\n  - name: x\n    labels: *a{count - 1}\n");
                return chain.ToString();
            case 3:
                return new string(Enumerable.Range(0, random.Next(1, 400)).Select(_ => (char)random.Next(0, 0x3100)).ToArray());
            default:
                var soup = new StringBuilder("images:\n  - name: a\n    context: " + Context + "\n    destinations: [r.example.com/a:1]\n    ");
                for (var i = random.Next(1, 200); i > 0; i--)
                {
                    soup.Append(Tokens[random.Next(Tokens.Length)]);
                }
                return soup.ToString();
        }
    }
}
