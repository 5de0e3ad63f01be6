using System.Net.Http.Headers;
using BuildFarm.Cli.Demo;
using BuildFarm.Client;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;

namespace BuildFarm.Web.Tests;

/// <summary>
/// One demo farm (cluster simulator, API with the web page, in-memory bus and store, two workers) for the web tests, with
/// registries that shape the builds: <see cref="FailingRegistry"/> refuses every push (unauthorized, permanent),
/// <see cref="SlowRegistry"/> pushes take about 6 s of wall time, <see cref="HoldRegistry"/> pushes about 40 s (builds to
/// cancel; give them <see cref="HoldDeadlineSeconds"/>, or the farm's default attempt deadline, 9 s of wall time at 400x, ends them first). Besides the demo's admin key: <see cref="ViewerKey"/> (tenant demo, read only) and <see cref="OtherKey"/>
/// (tenant other, read and submit).
/// </summary>
public sealed class WebFarmFixture : IAsyncLifetime, IDisposable
{
    public const string FailingRegistry = "fail.example.com";
    public const string SlowRegistry = "slow.example.com";
    public const string HoldRegistry = "hold.example.com";
    public const string ViewerKey = "viewer-key-0123456789abcdef";
    public const string OtherKey = "other-key-0123456789abcdef";

    /// <summary>The longest attempt deadline the API accepts (6 h simulated, 54 s of wall time at 400x).</summary>
    public const int HoldDeadlineSeconds = 6 * 3600;

    private static readonly string Yaml = ScenarioLoader.FastYaml()
        + "capacity: { nodes: 4, podsPerNode: 10 }\n"
        + "registries:\n"
        + $"  {FailingRegistry}:\n    faults: {{ unauthorized: 1 }}\n"
        + $"  {SlowRegistry}:\n    timings: {{ push: {{ median: 2400, p95: 2600 }} }}\n"
        + $"  {HoldRegistry}:\n    timings: {{ push: {{ median: 16000, p95: 17000 }} }}\n";

    private DemoFarm? _farm;
    private readonly List<HttpClient> _clients = [];

    public DemoFarm Farm => _farm ?? throw new InvalidOperationException("the farm is not started");

    /// <summary>The API's base address (ends with /).</summary>
    public Uri Api => Farm.Address;

    /// <summary>A client with the demo's admin key (tenant demo, every scope).</summary>
    public BuildFarmClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _farm = await DemoFarm.StartAsync(new DemoFarmOptions
        {
            Scenario = ScenarioLoader.Parse(Yaml, "web test scenario"),
            ScenarioYaml = Yaml,
            Seed = 5,
            ExtraApiSettings = new Dictionary<string, string?>
            {
                ["Api:Keys:viewer:Key"] = ViewerKey,
                ["Api:Keys:viewer:Scopes"] = "read",
                ["Api:Keys:viewer:Tenant"] = "demo",
                ["Api:Keys:other:Key"] = OtherKey,
                ["Api:Keys:other:Scopes"] = "read,submit",
                ["Api:Keys:other:Tenant"] = "other",
            },
        }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        Client = ClientFor(Farm.ApiKey);
    }

    /// <summary>A client of the farm's API with <paramref name="key"/>.</summary>
    public BuildFarmClient ClientFor(string key)
    {
        var http = new HttpClient { BaseAddress = Api, Timeout = TimeSpan.FromSeconds(30) };
        _clients.Add(http);
        return new BuildFarmClient(http, key);
    }

    /// <summary>A plain HttpClient of the API host, without a key (30 s timeout).</summary>
    public HttpClient Http(string? key = null)
    {
        var http = new HttpClient { BaseAddress = Api, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        _clients.Add(http);
        return http;
    }

    public static BuildSpec Spec(string registry, string repository) =>
        new() { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [$"{registry}/{repository}:1"] };

    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    /// <summary>Polls until the build is <paramref name="state"/> (deadline 30 s).</summary>
    public Task<BuildRecord> WaitForStateAsync(string buildId, BuildState state) =>
        Eventually.ValueAsync<BuildRecord>(async () => await Client.GetBuildAsync(buildId), r => r?.State == state, $"build {buildId} to be {state.ToWire()}");

    public void Dispose()
    {
        foreach (var http in _clients)
        {
            http.Dispose();
        }
    }

    public async Task DisposeAsync()
    {
        if (_farm is not null)
        {
            await _farm.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class WebFarmGroup : ICollectionFixture<WebFarmFixture>
{
    public const string Name = "web farm";
}
