using BuildFarm.Contracts;

namespace BuildFarm.Status.Tests;

public static class Records
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    public static BuildSpec Spec(string name) => new()
    {
        Context = "s3://ctx-bucket/mono.tar.gz",
        ContextSubPath = name,
        Destinations = [$"registry.example.com/team/{name}:1"],
    };

    public static BuildRecord Build(string id, BuildState state = BuildState.Queued, string? batch = null, DateTimeOffset? submitted = null,
        IReadOnlyList<string>? dependsOn = null, string? tenant = null) => new()
    {
        BuildId = id,
        BatchId = batch,
        Tenant = tenant,
        Name = id,
        Spec = Spec(id),
        State = state,
        SubmittedAt = submitted ?? T0,
        DependsOn = dependsOn ?? [],
    };
}
