using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace BuildFarm.Manifests.Planning;

/// <summary>The values a template is expanded with.</summary>
/// <param name="Sha">The revision: a commit sha, or any tag-safe word (scheduled runs use <c>sched-yyyyMMddHHmm</c>).</param>
/// <param name="SubmittedAt">The submit time; <c>{date}</c> is its UTC date.</param>
/// <param name="Name">The image's name.</param>
public sealed record TemplateValues(string Sha, DateTimeOffset SubmittedAt, string Name);

/// <summary>
/// Placeholders in manifest values (context, destinations, cacheRepo, build-arg and label values):
/// <c>{sha}</c> the full revision, <c>{short_sha}</c> its first <see cref="ShortShaLength"/> characters,
/// <c>{date}</c> the submit time's UTC date as <c>yyyyMMdd</c>, <c>{name}</c> the image's name.
/// Any other <c>{</c> or <c>}</c> is an error: there is no escape (no image reference contains braces).
/// </summary>
public static partial class ManifestTemplates
{
    /// <summary>
    /// Length of <c>{short_sha}</c>. Git abbreviates to 7 by default but lengthens abbreviations as a
    /// repository grows; a big monorepo needs more to stay unique, so the farm always takes 12.
    /// </summary>
    public const int ShortShaLength = 12;

    /// <summary>The placeholders, as written.</summary>
    public static IReadOnlyList<string> Placeholders { get; } = ["{sha}", "{short_sha}", "{date}", "{name}"];

    /// <summary>A sha used to check templates when no revision is known yet (40 hex digits).</summary>
    public const string PlaceholderSha = "0123456789abcdef0123456789abcdef01234567";

    /// <summary>Checks that <paramref name="template"/> uses only known placeholders.</summary>
    public static bool TryCheck(string template, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(template);
        var i = 0;
        while (i < template.Length)
        {
            var c = template[i];
            if (c == '}')
            {
                error = $"'{template}' has a '}}' without a matching '{{' at position {i + 1}";
                return false;
            }
            if (c != '{')
            {
                i++;
                continue;
            }
            var end = template.IndexOf('}', i);
            var next = template.IndexOf('{', i + 1);
            if (end < 0 || (next >= 0 && next < end))
            {
                error = $"'{template}' has a '{{' that is not closed at position {i + 1}";
                return false;
            }
            var placeholder = template[i..(end + 1)];
            if (!Placeholders.Contains(placeholder, StringComparer.Ordinal))
            {
                error = $"'{template}' uses the unknown placeholder {placeholder} (known: {string.Join(", ", Placeholders)})";
                return false;
            }
            i = end + 1;
        }
        error = null;
        return true;
    }

    /// <summary>Expands <paramref name="template"/>; throws <see cref="FormatException"/> when <see cref="TryCheck"/> would fail.</summary>
    public static string Expand(string template, TemplateValues values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        if (!TryCheck(template, out var error))
        {
            throw new FormatException(error);
        }
        if (!template.Contains('{', StringComparison.Ordinal))
        {
            return template;
        }
        var text = new StringBuilder(template);
        text.Replace("{sha}", values.Sha);
        text.Replace("{short_sha}", ShortSha(values.Sha));
        text.Replace("{date}", values.SubmittedAt.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture));
        text.Replace("{name}", values.Name);
        return text.ToString();
    }

    /// <summary>The first <see cref="ShortShaLength"/> characters of <paramref name="sha"/> (all of it when shorter).</summary>
    public static string ShortSha(string sha)
    {
        ArgumentNullException.ThrowIfNull(sha);
        return sha.Length <= ShortShaLength ? sha : sha[..ShortShaLength];
    }

    /// <summary>
    /// Checks a revision: 1-128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-', so that it
    /// is a valid image tag on its own. A commit sha is lower-cased.
    /// </summary>
    public static bool TryNormalizeSha(string? sha, [NotNullWhen(true)] out string? normalized, [NotNullWhen(false)] out string? error)
    {
        normalized = null;
        if (string.IsNullOrEmpty(sha))
        {
            error = "the revision (sha) is empty";
            return false;
        }
        if (!ShaRegex().IsMatch(sha))
        {
            error = $"the revision '{sha}' must be a commit sha or a tag-safe word (1-128 letters, digits, '_', '.', '-', not starting with '.' or '-')";
            return false;
        }
        normalized = HexRegex().IsMatch(sha) ? sha.ToLowerInvariant() : sha;
        error = null;
        return true;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex ShaRegex();

    [GeneratedRegex(@"^[0-9a-fA-F]{7,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex HexRegex();
}
