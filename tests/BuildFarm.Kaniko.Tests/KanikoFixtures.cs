namespace BuildFarm.Kaniko.Tests;

/// <summary>
/// Finds the real Kaniko logs the tests read, carried in the repository under <c>tests/fixtures/kaniko/</c> (each
/// file's first line names its source). Fails with a clear message when one is missing: never skips.
/// </summary>
internal static class KanikoFixtures
{
    private static readonly Lazy<string> KanikoRoot = new(FindKanikoRoot);

    /// <summary>Full path of a file in <c>tests/fixtures/kaniko/logs/</c> (excerpts from public issues).</summary>
    public static string KanikoLog(string fileName) => Existing(Path.Combine(KanikoRoot.Value, "logs", fileName));

    /// <summary>Full path of a file in <c>tests/fixtures/kaniko/runs/</c> (real Kaniko v1.20.0 runs).</summary>
    public static string KanikoRun(string fileName) => Existing(Path.Combine(KanikoRoot.Value, "runs", fileName));

    /// <summary>Every file in <c>tests/fixtures/kaniko/&lt;folder&gt;/</c>, by name.</summary>
    public static IReadOnlyList<string> KanikoFiles(string folder) =>
        [.. Directory.GetFiles(Path.Combine(KanikoRoot.Value, folder), "*.log").Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private static string Existing(string path) => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"test fixture '{path}' does not exist", path);

    private static string FindKanikoRoot()
    {
        var kaniko = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "kaniko");
        return Directory.Exists(kaniko)
            ? kaniko
            : throw new DirectoryNotFoundException($"test fixtures not found: expected '{kaniko}' in the repository");
    }
}
