using BuildFarm.Api.Auth;
using BuildFarm.Api.Options;
using BuildFarm.Cli;
using BuildFarm.Messaging;
using BuildFarm.Status.Hosting;
using BuildFarm.Status.Stores;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace BuildFarm.Deploy.Tests;

[NeedsServer(Server.Kubectl)]
public sealed class ApiAndCronJobTests : IDisposable
{
    private readonly string _keys = Directory.CreateTempSubdirectory("buildfarm-deploy-keys-").FullName;

    public void Dispose() => Directory.Delete(_keys, recursive: true);

    private static IConfiguration ApiConfiguration(IReadOnlyList<K8sObject> objects, string keysDirectory)
    {
        var api = RenderedConfig.Workload(objects, "Deployment", "buildfarm-api");
        var settings = RenderedConfig.AsConfiguration(RenderedConfig.Environment(objects, api, "api"));
        // The Secret volume is mounted at Api:KeysDirectory in the pod; here its entries are written to a folder.
        settings["Api:KeysDirectory"] = keysDirectory;
        return new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
    }

    /// <summary>The API keys Secret as the API Deployment mounts it (a generated Secret's name has a hash suffix).</summary>
    private static Dictionary<string, string> ApiKeysSecret(IReadOnlyList<K8sObject> objects)
    {
        var api = RenderedConfig.Workload(objects, "Deployment", "buildfarm-api");
        var volumes = (YamlDotNet.RepresentationModel.YamlSequenceNode)api.At("spec", "template", "spec", "volumes")!;
        var name = volumes.Children.OfType<YamlDotNet.RepresentationModel.YamlMappingNode>()
            .Select(v => new K8sObject("Volume", string.Empty, null, v))
            .Single(v => v.Scalar("name") == "api-keys").Scalar("secret", "secretName")!;
        return RenderedConfig.Data(objects, "Secret", name, "buildfarm")
            ?? throw new InvalidOperationException($"the overlay renders no Secret {name}, which the API mounts");
    }

    private void MountKeys(IReadOnlyList<K8sObject> objects)
    {
        foreach (var (name, key) in ApiKeysSecret(objects))
        {
            File.WriteAllText(Path.Combine(_keys, name), key);
        }
    }

    [Fact]
    public void ApiConfiguration_DevOverlay_KnownSettingsValidAndKeysLoad_NightlyMaySubmit()
    {
        var objects = Kustomize.Render("overlays/dev");
        MountKeys(objects);
        var configuration = ApiConfiguration(objects, _keys);

        var api = configuration.GetSection(ApiOptions.SectionName);
        // Api:Keys is read by the key ring, not bound to ApiOptions.
        var apiWithoutKeys = new ConfigurationBuilder().AddInMemoryCollection(
            api.AsEnumerable(makePathsRelative: true).Where(kv => kv.Value is not null && kv.Key != "Keys" && !kv.Key.StartsWith("Keys:", StringComparison.Ordinal))).Build();
        var options = apiWithoutKeys.Get<ApiOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new ApiOptions();
        Assert.Empty(options.Validate());
        var bus = configuration.GetSection(BusOptions.SectionName).Get<BusOptions>(o => o.ErrorOnUnknownConfiguration = true)!;
        Assert.Empty(bus.Validate());
        Assert.Empty((configuration.GetSection(BuildStatusStoreOptions.SectionName).Get<BuildStatusStoreOptions>(o => o.ErrorOnUnknownConfiguration = true)
            ?? new BuildStatusStoreOptions()).Validate());
        // The status store as the API registers it: Redis from the farm's one Redis setting (Redis__ConnectionString from the
        // buildfarm-redis Secret), not from the deprecated Status:RedisConnectionString.
        var services = new ServiceCollection().AddSingleton(configuration);
        services.AddBuildFarmStatusStore();
        using (var provider = services.BuildServiceProvider())
        {
            var status = provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            Assert.True(status.UseRedis, "API replicas must share the status through Redis");
            Assert.Equal(configuration["Redis:ConnectionString"], status.RedisConnectionString);
        }
        Assert.Null(configuration["Status:RedisConnectionString"]);

        var ring = ApiKeyRing.Load(configuration, options);
        var secrets = ApiKeysSecret(objects);
        var nightly = ring.Find(secrets["nightly"]);
        Assert.NotNull(nightly);
        Assert.Contains(ApiScopes.Submit, nightly.Scopes);
        Assert.DoesNotContain(ApiScopes.Submit, ring.Find(secrets["dev"])!.Scopes);
    }

    [Fact]
    public void NightlyCronJob_ArgsAreAValidSubmitOfTheMountedManifest_WithTheApiServiceAndAKey()
    {
        var objects = Kustomize.Render("overlays/production");
        var cron = RenderedConfig.Workload(objects, "CronJob", "buildfarm-nightly");
        var container = RenderedConfig.Container(cron, "submit");
        var args = ((YamlDotNet.RepresentationModel.YamlSequenceNode)container[new YamlDotNet.RepresentationModel.YamlScalarNode("args")])
            .Children.Select(c => c.ToString()).ToArray();

        var parse = BuildFarmCli.Create(new CliIO(TextReader.Null, TextWriter.Null, TextWriter.Null)).Parse(args);
        Assert.Empty(parse.Errors.Select(e => e.Message));
        Assert.Equal("submit", parse.CommandResult.Command.Name);

        var manifest = args[Array.IndexOf(args, "--manifest") + 1];
        var mount = cron.Scalar("spec", "jobTemplate", "spec", "template", "spec", "containers", "0", "volumeMounts", "0", "mountPath");
        Assert.StartsWith(mount + "/", manifest, StringComparison.Ordinal);
        var env = RenderedConfig.Environment(objects, cron, "submit");
        Assert.Equal("http://buildfarm-api:8080", env["BUILDFARM_API"]);
        Assert.True(env.ContainsKey("BUILDFARM_API_KEY"));
        var service = RenderedConfig.Workload(objects, "Service", "buildfarm-api");
        Assert.Equal("8080", service.Scalar("spec", "ports", "0", "port"));
    }
}
