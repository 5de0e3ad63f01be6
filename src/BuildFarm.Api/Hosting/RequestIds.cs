using System.Text.RegularExpressions;

namespace BuildFarm.Api.Hosting;

/// <summary>
/// The form of every build and batch id the farm issues (<c>b-3f9c…</c>, <c>batch-…</c>, <c>api-gateway-3f9c0a1b2c4d</c>,
/// <c>sched-base-202601010200</c>): ASCII letters, digits, '.', '_', '-', starting with a letter or digit, at most
/// <see cref="MaxLength"/> characters. An id in a request path or query is checked against it before any store sees it,
/// so whitespace, control characters and other Unicode never reach Redis keys or messages.
/// </summary>
public static partial class RequestIds
{
    public const int MaxLength = 128;

    public const string Problem = "is not a build or batch id (1-128 ASCII letters, digits, '.', '_', '-', starting with a letter or digit)";

    public static bool IsValid(string? id) => id is { Length: > 0 and <= MaxLength } && IdRegex().IsMatch(id);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex IdRegex();
}
