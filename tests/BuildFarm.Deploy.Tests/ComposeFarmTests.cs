using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Options;
using BuildFarm.Cli;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Messaging;
using BuildFarm.Hosting.Telemetry;
using BuildFarm.Status.Hosting;
using BuildFarm.Status.Stores;
using BuildFarm.Worker.Hosting;
using BuildFarm.Worker.Options;
using Json.Schema;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// docker-compose.yml checked without a container engine: against the Compose specification's JSON schema (as
/// `docker compose config` would refuse it), and each farm service's command, environment and ports against the settings
/// its program really reads, the addresses of the services it talks to, and what Prometheus scrapes.
/// </summary>
public sealed class ComposeFarmTests
{
    private static readonly string s_compose = Path.Combine(Kustomize.RepoRoot, "docker-compose.yml");
    private static readonly JsonObject s_file = ComposeYaml.Load(File.ReadAllText(s_compose));
    private static JsonObject Services => s_file["services"]!.AsObject();

    private static JsonObject Service(string name) => Services[name]?.AsObject() ?? throw new InvalidOperationException($"docker-compose.yml has no service {name}");

    private static Dictionary<string, string?> Environment(string service) =>
        Service(service)["environment"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.ToString(), StringComparer.Ordinal);

    private static IReadOnlyList<string> Strings(JsonNode? node) => node is JsonArray a ? [.. a.Select(n => n!.ToString())] : [];

    [Fact]
    public void Compose_ValidAgainstTheComposeSpecificationSchema()
    {
        var result = ComposeSchema.Evaluate(s_file);
        Assert.True(result.IsValid, "docker-compose.yml breaks the Compose specification:\n" + result.Describe());
    }

    [Theory]
    [InlineData("services.api", "dependz_on", "[]")]
    [InlineData("services.api.depends_on.redis", "condition", "\"healthy\"")]
    [InlineData("services.redis.healthcheck", "intervall", "\"5s\"")]
    [InlineData("", "servics", "{}")]
    public void ComposeSchema_RejectsAFileWithAMistake(string path, string key, string json)
    {
        var copy = s_file.DeepClone().AsObject();
        var target = path.Length == 0 ? copy : path.Split('.').Aggregate((JsonNode)copy, (n, k) => n[k]!).AsObject();
        target[key] = JsonNode.Parse(json);
        Assert.False(ComposeSchema.Evaluate(copy).IsValid, $"the schema accepted {path}.{key}: {json}");
    }

    [Fact]
    public void Compose_RunsTheWholeFarm_FarmImagesBuiltFromTheRepositoryDockerfile()
    {
        Assert.Equal("buildfarm", s_file["name"]?.ToString());
        foreach (var name in new[] { "rabbitmq", "redis", "sim", "api", "worker-1", "worker-2", "prometheus", "grafana" })
        {
            Assert.NotNull(Services[name]);
        }
        var projects = new Dictionary<string, string>
        {
            ["sim"] = "src/BuildFarm.Cli", ["api"] = "src/BuildFarm.Api", ["worker-1"] = "src/BuildFarm.Worker", ["worker-2"] = "src/BuildFarm.Worker",
        };
        foreach (var (service, project) in projects)
        {
            var build = Service(service)["build"]!.AsObject();
            Assert.Equal(".", build["context"]!.ToString());
            Assert.True(File.Exists(Path.Combine(Kustomize.RepoRoot, build["dockerfile"]!.ToString())), $"{service}: no {build["dockerfile"]}");
            Assert.Equal(project, build["args"]!["PROJECT"]!.ToString());
            // ENTRY is the assembly the image runs: the project's AssemblyName.
            var csproj = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, project, Path.GetFileName(project) + ".csproj"));
            Assert.Equal(Regex.Match(csproj, "<AssemblyName>(.+)</AssemblyName>").Groups[1].Value, build["args"]!["ENTRY"]!.ToString());
        }

        // The build context leaves out outputs and the checkout's history (COPY . . takes the whole context).
        var ignore = File.ReadAllLines(Path.Combine(Kustomize.RepoRoot, ".dockerignore")).Select(l => l.Trim()).ToHashSet(StringComparer.Ordinal);
        Assert.Superset(new HashSet<string> { ".git", "**/bin", "**/obj" }, ignore);
        Assert.DoesNotContain(ignore, l => l.StartsWith("src", StringComparison.Ordinal) || l is "Directory.Packages.props" or "Directory.Build.props" or "global.json" or "*.props");
    }

    [Fact]
    public void Compose_FarmServicesWaitForHealthyDependencies_EveryPublishedPortOnLoopback()
    {
        foreach (var (service, needs) in new[] { ("api", new[] { "rabbitmq", "redis" }), ("worker-1", ["rabbitmq", "redis", "sim"]), ("worker-2", ["rabbitmq", "redis", "sim"]) })
        {
            var dependsOn = Service(service)["depends_on"]!.AsObject();
            Assert.Equal(needs.Order(StringComparer.Ordinal), dependsOn.Select(kv => kv.Key).Order(StringComparer.Ordinal));
            foreach (var need in needs)
            {
                Assert.Equal("service_healthy", dependsOn[need]!["condition"]!.ToString());
                Assert.NotNull(Service(need)["healthcheck"]);
            }
        }
        foreach (var (name, service) in Services)
        {
            foreach (var port in Strings(service!["ports"]))
            {
                Assert.StartsWith("127.0.0.1:", port, StringComparison.Ordinal);
            }
        }
        // The default Redis is a BSD-licensed line.
        Assert.True(AutoscalingTests.IsBsdRedis(Service("redis")["image"]!.ToString()), Service("redis")["image"]!.ToString());
    }

    private const string OtelSection = "Otel";

    /// <summary>Tracing (docs/tracing.md): the one key <c>Otel:Endpoint</c>, valid, at the compose Jaeger's OTLP/HTTP port.</summary>
    private static void AssertTracesToJaeger(IConfiguration configuration)
    {
        Assert.Equal(["Endpoint"], configuration.GetSection(OtelSection).GetChildren().Select(c => c.Key));
        var endpoint = BuildFarmTracing.Endpoint(configuration);
        Assert.NotNull(endpoint);
        Assert.Equal("jaeger", endpoint.Host);
        Assert.Equal(4318, endpoint.Port);
        Assert.StartsWith("jaegertracing/all-in-one:", Service("jaeger")["image"]!.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("worker-1")]
    [InlineData("worker-2")]
    public void Compose_Worker_EverySettingIsOneTheWorkerReads_ConnectsToTheComposeServices_ReadsTheSimulatorsKubeconfig(string service)
    {
        var env = Environment(service);
        var settings = RenderedConfig.AsConfiguration(env);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var sections = new Dictionary<string, Type>
        {
            [WorkerOptions.SectionName] = typeof(WorkerOptions),
            [KanikoPodOptions.SectionName] = typeof(KanikoPodOptions),
            [BusOptions.SectionName] = typeof(BusOptions),
            [RedisOptions.SectionName] = typeof(RedisOptions),
            [KubernetesOptions.SectionName] = typeof(KubernetesOptions),
            [AdmissionOptions.SectionName] = typeof(AdmissionOptions),
        };
        foreach (var section in configuration.GetChildren())
        {
            if (section.Key == OtelSection)
            {
                AssertTracesToJaeger(configuration);
                continue;
            }
            Assert.True(sections.TryGetValue(section.Key, out var type), $"{service}: '{section.Key}' is not a section the worker reads");
            var e = Record.Exception(() => section.Get(type, o => o.ErrorOnUnknownConfiguration = true));
            Assert.True(e is null, $"{service}: {e?.Message}");
        }
        // The worker's start-up validation, with the kubeconfig the simulator will have written (the worker starts only
        // once sim is healthy, i.e. the file exists) standing in at a local path.
        var kubeconfig = Path.GetTempFileName();
        try
        {
            File.WriteAllText(kubeconfig, "apiVersion: v1\nkind: Config\n");
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Configuration.AddConfiguration(configuration);
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kubernetes:KubeconfigPath"] = kubeconfig });
            builder.Services.AddBuildFarmWorkerCore();
            using var provider = builder.Services.BuildServiceProvider();
            foreach (var type in sections.Values)
            {
                var options = provider.GetRequiredService(typeof(IOptions<>).MakeGenericType(type));
                var e = Record.Exception(() => options.GetType().GetProperty("Value")!.GetValue(options));
                Assert.True(e is null, $"{service}: {type.Name}: {e?.InnerException?.Message}");
            }
        }
        finally
        {
            File.Delete(kubeconfig);
        }

        Assert.Equal("RabbitMq", configuration["Bus:Transport"]);
        Assert.Equal("rabbitmq", configuration["Bus:Host"]);
        Assert.Equal("redis", HostOf(configuration["Redis:ConnectionString"]!));
        // The simulator writes its kubeconfig into the shared volume; the worker reads it from its own mount of it.
        var (volume, sharedPath) = KubeconfigAsSimWritesIt();
        var mount = Strings(Service(service)["volumes"]).Select(v => v.Split(':')).Single(v => v[0] == volume);
        Assert.Equal(sharedPath, Path.GetRelativePath(mount[1], configuration["Kubernetes:KubeconfigPath"]!));
        Assert.NotEqual("true", configuration["Kubernetes:InCluster"]);

        // Metrics on the port Prometheus scrapes, on all interfaces (another container scrapes it).
        var urls = new Uri(env["Urls"]!);
        Assert.Equal("0.0.0.0", urls.Host);
        Assert.Contains($"{service}:{urls.Port}", PrometheusTargets("buildfarm-worker"));
        // SIGTERM from `docker compose stop` leaves the worker its hand-back time before SIGKILL.
        var stop = TimeSpan.FromSeconds(int.Parse(Service(service)["stop_grace_period"]!.ToString().TrimEnd('s'), CultureInfo.InvariantCulture));
        Assert.True(stop >= TimeSpan.Parse(configuration["Worker:ShutdownGracePeriod"]!, CultureInfo.InvariantCulture) + TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Compose_Api_SettingsKnownAndValid_DocumentedKeyMaySubmit_PublishedWhereTheReadmeSays()
    {
        var env = Environment("api");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(RenderedConfig.AsConfiguration(env)).Build();
        Assert.All(configuration.GetChildren(), s => Assert.Contains(s.Key, new[] { ApiOptions.SectionName, BusOptions.SectionName, RedisOptions.SectionName, AdmissionOptions.SectionName, OtelSection }));
        Assert.Empty((configuration.GetSection(AdmissionOptions.SectionName).Get<AdmissionOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new AdmissionOptions()).Validate());
        AssertTracesToJaeger(configuration);
        var api = configuration.GetSection(ApiOptions.SectionName);
        var apiWithoutKeys = new ConfigurationBuilder().AddInMemoryCollection(
            api.AsEnumerable(makePathsRelative: true).Where(kv => kv.Value is not null && kv.Key != "Keys" && !kv.Key.StartsWith("Keys:", StringComparison.Ordinal))).Build();
        var options = apiWithoutKeys.Get<ApiOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new ApiOptions();
        Assert.Empty(options.Validate());
        var bus = configuration.GetSection(BusOptions.SectionName).Get<BusOptions>(o => o.ErrorOnUnknownConfiguration = true)!;
        Assert.Empty(bus.Validate());
        Assert.Equal(BusTransport.RabbitMq, bus.Transport);
        Assert.Equal("rabbitmq", bus.Host);
        // The status store as the API registers it: from Redis:ConnectionString, the one Redis setting of every host.
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddBuildFarmStatusStore();
        using (var provider = services.BuildServiceProvider())
        {
            var status = provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            Assert.Empty(status.Validate());
            Assert.True(status.UseRedis, "the API must read the builds' status from the Redis the workers write");
            Assert.Equal("redis", HostOf(status.RedisConnectionString!));
        }

        // The key the README documents is a key of the API's, and may submit.
        var readme = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, "README.md"));
        var key = env["Api__Keys__dev__Key"]!;
        Assert.Contains($"BUILDFARM_API_KEY={key}", readme, StringComparison.Ordinal);
        var ring = ApiKeyRing.Load(configuration, options);
        Assert.Contains(ApiScopes.Submit, ring.Find(key)!.Scopes);

        var urls = new Uri(env["Urls"]!);
        Assert.Equal("0.0.0.0", urls.Host);
        Assert.Contains($"127.0.0.1:{urls.Port}:{urls.Port}", Strings(Service("api")["ports"]));
        Assert.Contains($"--api http://localhost:{urls.Port}", readme, StringComparison.Ordinal);
        Assert.Equal([$"api:{urls.Port}"], PrometheusTargets("buildfarm-api"));
    }

    /// <summary>Admission (docs/scheduling.md "Admission") on, the same on the API and every worker (an API queuing into
    /// Redis while workers publish nothing would strand builds), each with the Redis its admission store lives in.</summary>
    [Fact]
    public void Compose_Admission_OnAndTheSameOnTheApiAndEveryWorker_EachWithRedis()
    {
        var hosts = Services.Where(kv => kv.Key == "api" || kv.Key.StartsWith("worker-", StringComparison.Ordinal)).Select(kv => kv.Key).ToList();
        Assert.Equal(["api", "worker-1", "worker-2"], hosts.Order(StringComparer.Ordinal));
        foreach (var host in hosts)
        {
            var configuration = RenderedConfig.AsConfiguration(Environment(host));
            Assert.Equal("true", configuration.GetValueOrDefault("Scheduling:Admission"));
            Assert.Null(AdmissionOptions.SharedStoreProblem(configuration.GetValueOrDefault));
        }
        // No other service sets it.
        Assert.All(Services.Where(kv => !hosts.Contains(kv.Key)), kv => Assert.False(kv.Value!["environment"] is JsonObject env && env.ContainsKey("Scheduling__Admission"), kv.Key));
    }

    [Fact]
    public void Compose_Simulator_CommandIsAValidSimInvocation_BoundToItsFixedAddress()
    {
        var command = Strings(Service("sim")["command"]).ToArray();
        var parse = BuildFarmCli.Create(new CliIO(TextReader.Null, TextWriter.Null, TextWriter.Null)).Parse(command);
        Assert.Empty(parse.Errors.Select(e => e.Message));
        Assert.Equal("sim", parse.CommandResult.Command.Name);
        // The kubeconfig's server is the address the simulator binds: it must be the one the farm network gives it.
        var host = command[Array.IndexOf(command, "--host") + 1];
        Assert.Equal(host, Service("sim")["networks"]!["farm"]!["ipv4_address"]!.ToString());
        var subnet = s_file["networks"]!["farm"]!["ipam"]!["config"]![0]!["subnet"]!.ToString();
        Assert.True(System.Net.IPNetwork.Parse(subnet).Contains(System.Net.IPAddress.Parse(host)), $"{host} is outside {subnet}");
        foreach (var service in new[] { "api", "worker-1", "worker-2", "rabbitmq", "redis", "prometheus" })
        {
            Assert.Contains("farm", Service(service)["networks"] is JsonArray a ? a.Select(n => n!.ToString()) : Service(service)["networks"]!.AsObject().Select(kv => kv.Key));
        }
    }

    /// <summary>The named volume the simulator writes its kubeconfig into, and the file's path inside that volume.</summary>
    private static (string Volume, string Path) KubeconfigAsSimWritesIt()
    {
        var command = Strings(Service("sim")["command"]).ToArray();
        var file = command[Array.IndexOf(command, "--kubeconfig-out") + 1];
        var mount = Strings(Service("sim")["volumes"]).Select(v => v.Split(':')).Single(v => file.StartsWith(v[1] + "/", StringComparison.Ordinal));
        Assert.NotNull(s_file["volumes"]![mount[0]]);
        return (mount[0], Path.GetRelativePath(mount[1], file));
    }

    private static string HostOf(string redisConnectionString) => redisConnectionString.Split(',')[0].Split(':')[0];

    private static List<string> PrometheusTargets(string job)
    {
        var config = Strings(Service("prometheus")["volumes"]).Select(v => v.Split(':')).Single(v => v[1] == "/etc/prometheus/prometheus.yml")[0];
        var root = ComposeYaml.Load(File.ReadAllText(Path.Combine(Kustomize.RepoRoot, config)));
        var scrape = root["scrape_configs"]!.AsArray().Single(c => c!["job_name"]!.ToString() == job)!;
        return [.. scrape["static_configs"]!.AsArray().SelectMany(s => s!["targets"]!.AsArray().Select(t => t!.ToString()))];
    }
}

/// <summary>The Compose specification's JSON schema (tests/fixtures/compose-spec, vendored with its source and licence).</summary>
public static class ComposeSchema
{
    private static readonly JsonSchema s_schema = JsonSchema.FromFile(Path.Combine(Kustomize.RepoRoot, "tests", "fixtures", "compose-spec", "compose-spec.json"));

    public static EvaluationResults Evaluate(JsonNode document) =>
        s_schema.Evaluate(System.Text.Json.JsonSerializer.SerializeToElement(document), new EvaluationOptions { OutputFormat = OutputFormat.List });

    public static string Describe(this EvaluationResults results) =>
        string.Join('\n', (results.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));
}

/// <summary>
/// YAML → JSON as Compose reads it: plain scalars typed (integers, numbers, booleans, null), quoted scalars strings,
/// merge keys (<c>&lt;&lt;: *anchor</c>) resolved with the mapping's own keys winning.
/// </summary>
public static class ComposeYaml
{
    public static JsonObject Load(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Convert(stream.Documents[0].RootNode)!.AsObject();
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => Mapping(map),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(Convert)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidOperationException($"unexpected YAML node {node.NodeType}"),
    };

    private static JsonObject Mapping(YamlMappingNode map)
    {
        var result = new JsonObject();
        foreach (var (key, value) in map.Children)
        {
            var k = ((YamlScalarNode)key).Value!;
            if (k == "<<")
            {
                continue;
            }
            result[k] = Convert(value);
        }
        if (map.Children.TryGetValue(new YamlScalarNode("<<"), out var merge))
        {
            var sources = merge is YamlSequenceNode s ? s.Children.ToList() : [merge];
            foreach (var source in sources)
            {
                foreach (var (k, v) in Mapping((YamlMappingNode)source))
                {
                    if (!result.ContainsKey(k))
                    {
                        result[k] = v?.DeepClone();
                    }
                }
            }
        }
        return result;
    }

    private static JsonValue? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? string.Empty;
        if (scalar.Style is not YamlDotNet.Core.ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }
        if (text is "" or "~" or "null")
        {
            return null;
        }
        if (text is "true" or "false")
        {
            return JsonValue.Create(text == "true");
        }
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }
        if (Regex.IsMatch(text, @"^-?\d+\.\d+$") && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            return JsonValue.Create(d);
        }
        return JsonValue.Create(text);
    }
}
