namespace BuildFarm.Kaniko.Tests;

/// <summary>
/// Finds the shared test data (real Kaniko logs) read in place from <c>../shared/kaniko</c> beside the repository
/// root (the folder holding BuildFarm.sln). Fails with a clear message when it is missing: never skips.
/// </summary>
internal static class SharedData
{
    private static readonly Lazy<string> KanikoRoot = new(FindKanikoRoot);

    /// <summary>Full path of a file in <c>../shared/kaniko/logs/</c>.</summary>
    public static string KanikoLog(string fileName) => Existing(Path.Combine(KanikoRoot.Value, "logs", fileName));

    /// <summary>Full path of a file in <c>../shared/kaniko/runs/</c>.</summary>
    public static string KanikoRun(string fileName) => Existing(Path.Combine(KanikoRoot.Value, "runs", fileName));

    /// <summary>Every file in <c>../shared/kaniko/&lt;folder&gt;/</c>, by name.</summary>
    public static IReadOnlyList<string> KanikoFiles(string folder) =>
        [.. Directory.GetFiles(Path.Combine(KanikoRoot.Value, folder)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private static string Existing(string path) => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"shared test data file '{path}' does not exist", path);

    private static string FindKanikoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BuildFarm.sln")))
            {
                var kaniko = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "kaniko"));
                return Directory.Exists(kaniko)
                    ? kaniko
                    : throw new DirectoryNotFoundException(
                        $"shared test data not found: expected '{kaniko}' beside the repository root '{dir.FullName}' " +
                        "(CI and the dev machines place shared/ next to the clone)");
            }
        }

        throw new DirectoryNotFoundException(
            $"could not find the repository root (a folder with BuildFarm.sln) above '{AppContext.BaseDirectory}'");
    }
}
