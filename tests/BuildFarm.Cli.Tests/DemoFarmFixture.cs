using System.Diagnostics;
using BuildFarm.Cli.Demo;
using BuildFarm.Client;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;

namespace BuildFarm.Cli.Tests;

/// <summary>
/// One demo farm (simulator, API, bus, status store, two workers) shared by the API command tests. Pushes to
/// <see cref="FailingRegistry"/> fail as unauthorized (a permanent failure), builds to <see cref="RunFailingRegistry"/> in RUN.
/// </summary>
public sealed class DemoFarmFixture : IAsyncLifetime, IDisposable
{
    public const string FailingRegistry = "fail.example.com";

    /// <summary>Builds pushing here fail in their last RUN step (exit code 3).</summary>
    public const string RunFailingRegistry = "runfail.example.com";

    private static readonly string Yaml = ScenarioLoader.FastYaml()
        + "capacity: { nodes: 4, podsPerNode: 10 }\n"
        + $"registries:\n  {FailingRegistry}:\n    faults: {{ unauthorized: 1 }}\n"
        + $"  {RunFailingRegistry}:\n    faults: {{ runFailure: 1, runExitCode: 3 }}\n";

    private DemoFarm? _farm;
    private HttpClient? _http;

    public DemoFarm Farm => _farm ?? throw new InvalidOperationException("the farm is not started");

    public string Api => Farm.Address.ToString();

    public BuildFarmClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _farm = await DemoFarm.StartAsync(new DemoFarmOptions { Scenario = ScenarioLoader.Parse(Yaml, "cli test scenario"), ScenarioYaml = Yaml, Seed = 3 },
            CancellationToken.None);
        _http = new HttpClient { BaseAddress = _farm.Address };
        Client = new BuildFarmClient(_http, _farm.ApiKey);
    }

    public void Dispose() => _http?.Dispose();

    public async Task DisposeAsync()
    {
        if (_farm is not null)
        {
            await _farm.DisposeAsync();
        }
    }

    /// <summary>The CLI arguments that reach this farm's API.</summary>
    public string[] With(params string[] args) => [.. args, "--api", Api, "--api-key", Farm.ApiKey];

    public static BuildSpec Spec(string destination) => new() { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [destination] };

    /// <summary>A batch of independent images pushing to a unique repository each.</summary>
    public async Task<BatchStatus> SubmitBatchAsync(string prefix, int images, string registry = "registry.example.com")
    {
        var request = new SubmitBatchRequest
        {
            Images = [.. Enumerable.Range(1, images).Select(i => new BatchImageRequest
            {
                Name = $"img-{i}",
                Spec = Spec($"{registry}/{prefix}/img-{i}:1"),
            })],
        };
        return await Client.SubmitBatchAsync(request);
    }

    /// <summary>Polls until every build of the batch is final (deadline 60 s).</summary>
    public async Task<BatchStatus> WaitDoneAsync(string batchId)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            var batch = await Client.GetBatchAsync(batchId);
            if (batch.Done)
            {
                return batch;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"batch {batchId} did not end within 60 s");
    }

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];
}

[CollectionDefinition(Name)]
public sealed class DemoFarmGroup : ICollectionFixture<DemoFarmFixture>
{
    public const string Name = "demo farm";
}
