using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Tests.Specs;

/// <summary>Build specs the tests start from and change one field at a time.</summary>
internal static class SampleSpecs
{
    public const string PinnedExecutor =
        "gcr.io/kaniko-project/executor:v1.24.0@sha256:4e7a52dd1f14872430652bb3b027405b8dfd17c4538751c620ac005741ef9698";

    /// <summary>A spec that validates with no errors and uses every field.</summary>
    public static BuildSpec Full() => new()
    {
        Context = "https://artifacts.example.com/ctx/app-1234.tar.gz",
        ContextSubPath = "services/api",
        Dockerfile = "docker/Dockerfile",
        Destinations = ["registry.example.com/team/api:1.2.3", "registry.example.com/team/api:latest"],
        BuildArgs = new Dictionary<string, string> { ["VERSION"] = "1.2.3", ["BASE"] = "alpine:3.19" },
        Target = "runtime",
        Labels = new Dictionary<string, string> { ["org.opencontainers.image.revision"] = "abc123" },
        Cache = true,
        CacheRepo = "registry.example.com/team/cache",
        Platform = "linux/arm64",
        Resources = new BuildResources { CpuRequest = "1", MemoryRequest = "2Gi", CpuLimit = "4", MemoryLimit = "8Gi" },
        DeadlineSeconds = 1800,
    };

    /// <summary>The smallest valid spec.</summary>
    public static BuildSpec Minimal() => new()
    {
        Context = "s3://ctx-bucket/builds/app.tar.gz",
        Destinations = ["registry.example.com/team/app:1"],
    };
}
