using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>The registry the base image came from (the pull metrics' <c>registry</c> label), from real logs.</summary>
public sealed class BaseRegistryTests
{
    [Theory]
    [InlineData("runs", "c-success-json.exit0.log", "127.0.0.1:5000")]
    [InlineData("runs", "a-success-color-timestamp.exit0.log", "127.0.0.1:5000")]
    [InlineData("logs", "issue-1348-cache-hits.log", "index.docker.io")]
    [InlineData("logs", "issue-2712-color-ansi-remnants-registry-mirror.log", "mirror.company.local")]
    public void Analyze_RealLog_BaseRegistryFromRetrievingImageLine(string folder, string file, string registry)
    {
        var path = folder == "runs" ? KanikoFixtures.KanikoRun(file) : KanikoFixtures.KanikoLog(file);
        using var reader = File.OpenText(path);

        Assert.Equal(registry, KanikoLogAnalyzer.Analyze(reader).BaseRegistry);
    }

    [Fact]
    public void Analyze_NoRetrievingImageLine_BaseRegistryNull()
    {
        using var reader = new StringReader("INFO[0000] Pushing image to registry.example.com/app:1\n");

        Assert.Null(KanikoLogAnalyzer.Analyze(reader).BaseRegistry);
    }
}
