using System.Text.RegularExpressions;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// The checkout stands alone: no file of the repository reads or links a path outside it, every relative link in
/// its Markdown resolves to a file or folder inside it, and every test fixture names where it came from.
/// </summary>
public sealed partial class RepositoryTests
{
    private static readonly string[] SkippedFolders = ["bin", "obj", ".git", ".test-run", ".load-run", "node_modules", "TestResults"];

    private static readonly string[] TextExtensions =
        [".cs", ".md", ".sh", ".csproj", ".props", ".targets", ".sln", ".json", ".yml", ".yaml", ".js", ".conf", ".txt", ""];

    // The design notes that live outside the repository; nothing inside may cite them.
    private static readonly string[] OutsideDocuments =
        ["DESIGN" + ".md", "FACTS" + ".md", "ANCHORS" + ".md", "STYLE" + ".md", "ECOSYSTEM" + ".md"];

    [Fact]
    public void No_file_reads_or_cites_anything_beside_the_checkout()
    {
        var offenders = new List<string>();
        foreach (var file in RepositoryFiles().Where(f => TextExtensions.Contains(Path.GetExtension(f))))
        {
            var relative = Path.GetRelativePath(Kustomize.RepoRoot, file);
            if (relative == Path.Combine("tests", "BuildFarm.Deploy.Tests", "RepositoryTests.cs"))
            {
                continue;
            }
            var lineNumber = 0;
            foreach (var line in File.ReadLines(file))
            {
                lineNumber++;
                if (OutsideReference().IsMatch(line) || OutsideDocuments.Any(d => line.Contains(d, StringComparison.Ordinal)))
                {
                    offenders.Add($"{relative}:{lineNumber}: {line.Trim()}");
                }
            }
        }

        Assert.True(offenders.Count == 0, "files that reach outside the repository:\n" + string.Join('\n', offenders));
    }

    [Fact]
    public void Every_relative_markdown_link_resolves_inside_the_repository()
    {
        var broken = new List<string>();
        var markdown = RepositoryFiles().Where(f => f.EndsWith(".md", StringComparison.Ordinal)).ToList();
        Assert.Contains(markdown, f => Path.GetFileName(f) == "README.md");
        foreach (var file in markdown)
        {
            var relative = Path.GetRelativePath(Kustomize.RepoRoot, file);
            var text = File.ReadAllText(file);
            foreach (Match link in MarkdownLink().Matches(text))
            {
                var target = link.Groups["target"].Value;
                if (target.Length == 0 || target.StartsWith('#') || UriScheme().IsMatch(target))
                {
                    continue;
                }
                var path = target.Split('#', 2)[0];
                var resolved = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(path)));
                var inside = resolved == Kustomize.RepoRoot || resolved.StartsWith(Kustomize.RepoRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal);
                if (!inside)
                {
                    broken.Add($"{relative}: ({target}) points outside the repository");
                }
                else if (!File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    broken.Add($"{relative}: ({target}) does not exist");
                }
            }
        }

        Assert.True(broken.Count == 0, "broken Markdown links:\n" + string.Join('\n', broken));
    }

    [Fact]
    public void Every_kaniko_fixture_names_its_source_on_its_first_line()
    {
        var fixtures = Directory.GetFiles(Path.Combine(Kustomize.RepoRoot, "tests", "fixtures", "kaniko"), "*", SearchOption.AllDirectories);
        Assert.NotEmpty(fixtures);
        var unnamed = fixtures
            .Where(f =>
            {
                var first = File.ReadLines(f).FirstOrDefault() ?? "";
                return !(first.StartsWith("# source: ", StringComparison.Ordinal) || first.StartsWith("# real kaniko v", StringComparison.Ordinal));
            })
            .Select(f => Path.GetRelativePath(Kustomize.RepoRoot, f))
            .ToList();

        Assert.True(unnamed.Count == 0, "fixtures without a '# source: …' or '# real kaniko vX …' first line:\n" + string.Join('\n', unnamed));
    }

    [Fact]
    public void The_checks_above_see_a_reference_outside_when_there_is_one()
    {
        Assert.Matches(OutsideReference(), "var p = Path.Combine(root, \"..\", \"shared\", \"kaniko\");");
        Assert.Matches(OutsideReference(), "read .." + "/shared/kaniko/runs/a.log");
        Assert.Matches(OutsideReference(), @"..\shared\x");
        Assert.DoesNotMatch(OutsideReference(), "the shared pod watch; a/../b is fine");
        var links = MarkdownLink().Matches("see [a](../x.md#top) and [b](https://example.org) ![c](img.png)")
            .Select(m => m.Groups["target"].Value).ToList();
        Assert.Equal(["../x.md#top", "https://example.org", "img.png"], links);
    }

    private static IEnumerable<string> RepositoryFiles()
    {
        var pending = new Stack<string>([Kustomize.RepoRoot]);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            foreach (var sub in Directory.GetDirectories(dir))
            {
                if (!SkippedFolders.Contains(Path.GetFileName(sub)))
                {
                    pending.Push(sub);
                }
            }
            foreach (var file in Directory.GetFiles(dir))
            {
                yield return file;
            }
        }
    }

    [GeneratedRegex(@"\.\.[/\\]shared\b|""\.\.""\s*,\s*""shared""")]
    private static partial Regex OutsideReference();

    [GeneratedRegex(@"!?\[[^\]\n]*\]\((?<target>[^)\s]*)(?:\s+""[^""]*"")?\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9+.-]*:")]
    private static partial Regex UriScheme();
}
