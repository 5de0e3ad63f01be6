namespace BuildFarm.Dashboards.Tests;

/// <summary>Paths in the repository, found by walking up from the test binaries to the folder holding BuildFarm.sln.</summary>
internal static class Repo
{
    public static string Root => TestPaths.RepoRoot;

    public static string Dashboard => Path.Combine(Root, "dashboards", "grafana", "buildfarm-overview.json");

    public static string Rules => Path.Combine(Root, "dashboards", "prometheus", "buildfarm-rules.yml");

    public static string RuleTestsDir => Path.Combine(Root, "dashboards", "prometheus", "tests");

    public static string DashboardsDoc => Path.Combine(Root, "docs", "dashboards.md");

    public static string ApiDoc => Path.Combine(Root, "docs", "api.md");

    public static string Compose => Path.Combine(Root, "docker-compose.yml");

    public static string ReadText(string path) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new FileNotFoundException($"{Path.GetRelativePath(Root, path)} is missing from the repository", path);
}
