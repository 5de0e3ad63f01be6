using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildFarm.Api.Web;
using BuildFarm.Contracts;

namespace BuildFarm.Web.Tests;

/// <summary>The page's table of failure reasons (src/BuildFarm.Api/Web/ui/failure-reasons.json) says what
/// docs/failure-reasons.md says, reason by reason, and covers the farm's whole vocabulary.</summary>
public sealed partial class FailureReasonsTableTests
{
    private sealed record Entry(bool Transient, string Meaning);

    [Fact]
    public void Table_MatchesTheDocument()
    {
        var documented = Documented();
        var shipped = Shipped();

        Assert.True(documented.Count >= 15, $"only {documented.Count} reasons were read from docs/failure-reasons.md: did its table change shape?");
        Assert.Equal(documented.Keys.Order(StringComparer.Ordinal), shipped.Keys.Order(StringComparer.Ordinal));
        foreach (var (reason, entry) in documented)
        {
            Assert.True(entry == shipped[reason],
                $"{reason}: the page says {shipped[reason]}, docs/failure-reasons.md says {entry}. Copy the row into src/BuildFarm.Api/Web/ui/failure-reasons.json");
        }
    }

    [Fact]
    public void Table_CoversEveryReasonOfTheVocabulary()
    {
        var vocabulary = typeof(FailureReasons).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f is { IsLiteral: true, FieldType.Name: nameof(String) })
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();

        Assert.NotEmpty(vocabulary);
        Assert.Empty(vocabulary.Except(Shipped().Keys));
    }

    [Fact]
    public void EmbeddedTable_IsTheFileInTheRepository()
    {
        var onDisk = File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "src", "BuildFarm.Api", "Web", "ui", "failure-reasons.json"));

        Assert.Equal(onDisk, WebUi.Find("failure-reasons.json")?.Content);
    }

    /// <summary>The rows <c>| `reason` | yes/no | meaning |</c> of the document's first table (a row may name several reasons).</summary>
    private static Dictionary<string, Entry> Documented()
    {
        var rows = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Path.Combine(TestPaths.RepoRoot, "docs", "failure-reasons.md")))
        {
            var row = Row().Match(line);
            if (!row.Success)
            {
                continue;
            }
            foreach (Match reason in Reason().Matches(row.Groups["reasons"].Value))
            {
                rows[reason.Groups[1].Value] = new Entry(row.Groups["transient"].Value == "yes", row.Groups["meaning"].Value);
            }
        }
        return rows;
    }

    private static Dictionary<string, Entry> Shipped()
    {
        using var json = JsonDocument.Parse(WebUi.Find("failure-reasons.json")?.Content ?? throw new InvalidOperationException("failure-reasons.json is not embedded"));
        return json.RootElement.EnumerateObject().ToDictionary(
            p => p.Name,
            p => new Entry(p.Value.GetProperty("transient").GetBoolean(), p.Value.GetProperty("meaning").GetString()!),
            StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^\| (?<reasons>`[a-z_]+`(?:, `[a-z_]+`)*) \| (?<transient>yes|no) \| (?<meaning>.*) \|$")]
    private static partial Regex Row();

    [GeneratedRegex("`([a-z_]+)`")]
    private static partial Regex Reason();
}
