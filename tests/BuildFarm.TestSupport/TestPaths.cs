namespace BuildFarm.TestSupport;

/// <summary>Paths in the repository, found by walking up from the test binaries to the folder holding BuildFarm.sln.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The repository root (the folder holding BuildFarm.sln).</summary>
    public static string RepoRoot => Root.Value;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BuildFarm.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"the repository root (a folder with BuildFarm.sln) was not found above {AppContext.BaseDirectory}");
    }
}
