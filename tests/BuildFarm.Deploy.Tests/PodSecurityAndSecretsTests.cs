using System.Reflection;
using BuildFarm.Api.Options;
using BuildFarm.Cli.Commands;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Messaging;
using BuildFarm.Status.Stores;
using BuildFarm.Worker.Options;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>Pod Security labels and seccomp on every pod, and Secrets given to each container key by key
/// (docs/security.md "Cluster").</summary>
public sealed class PodSecurityAndSecretsTests
{
    private static readonly string[] s_overlays = ["overlays/dev", "overlays/production"];

    /// <summary>The configuration sections each farm program reads (its options classes).</summary>
    private static readonly Dictionary<string, Type[]> s_programSettings = new()
    {
        ["worker"] = [typeof(WorkerOptions), typeof(KanikoPodOptions), typeof(BusOptions), typeof(RedisOptions), typeof(KubernetesOptions)],
        ["api"] = [typeof(ApiOptions), typeof(BusOptions), typeof(BuildStatusStoreOptions)],
    };

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void EveryPod_RunsWithTheRuntimeDefaultSeccompProfile()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var pods = PodTemplates.Farm(objects).Concat(PodTemplates.Builds(objects)).ToList();
            Assert.Contains(pods, p => p.Source == "CronJob/buildfarm-nightly");
            foreach (var pod in pods)
            {
                Assert.True(pod.PodSpec.Scalar("securityContext", "seccompProfile", "type") == "RuntimeDefault",
                    $"{overlay}: {pod.Source} has no pod-level seccompProfile RuntimeDefault");
                foreach (var c in pod.Containers())
                {
                    Assert.True(c.Scalar("securityContext", "seccompProfile", "type") is null or "RuntimeDefault",
                        $"{overlay}: {pod.Source} container {c.Name} overrides the seccomp profile");
                }
            }
        }
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void Namespaces_EnforceAPodSecurityLevel_ThatAdmitsTheirPods()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var model = new NetworkPolicyModel(objects);
            var pods = PodTemplates.Farm(objects).Concat(PodTemplates.Builds(objects)).ToList();
            var namespaces = objects.Where(o => o.Namespace is not null).Select(o => o.Namespace!).Concat(pods.Select(p => p.Namespace)).ToHashSet();
            foreach (var ns in namespaces)
            {
                Assert.True(objects.Any(o => o.Kind == "Namespace" && o.Name == ns), $"{overlay}: namespace {ns} is used but not rendered");
                var labels = model.NamespaceLabels(ns);
                Assert.True(labels.TryGetValue("pod-security.kubernetes.io/enforce", out var level), $"{overlay}: namespace {ns} enforces no Pod Security level");
                Assert.NotEqual("privileged", level);
                Assert.Equal(level, labels.GetValueOrDefault("pod-security.kubernetes.io/warn"));
                Assert.Equal(level, labels.GetValueOrDefault("pod-security.kubernetes.io/audit"));
                foreach (var pod in pods.Where(p => p.Namespace == ns))
                {
                    Assert.Empty(PodSecurity.Violations(pod, level!).Select(v => $"{overlay}: {pod.Source} in {ns} ({level}): {v}"));
                }
            }

            // The farm's namespace is restricted; the builds' is baseline because Kaniko runs as root with capabilities
            // that restricted refuses (the reason is checked, so the level cannot be lowered by mistake elsewhere).
            Assert.Equal("restricted", model.NamespaceLabels("buildfarm")["pod-security.kubernetes.io/enforce"]);
            foreach (var build in PodTemplates.Builds(objects))
            {
                Assert.Equal("baseline", model.NamespaceLabels(build.Namespace)["pod-security.kubernetes.io/enforce"]);
                var refused = PodSecurity.Violations(build, "restricted");
                Assert.Contains(refused, v => v.EndsWith("runAsNonRoot is not true", StringComparison.Ordinal));
                Assert.Contains(refused, v => v.Contains("adds capability SETUID", StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public void PodSecurityCheck_RefusesWhatEachLevelRefuses()
    {
        // The checker itself: a pod that is fine for restricted, then one change at a time.
        static PodTemplate Pod(string yaml)
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return new PodTemplate("test", "ns", new Dictionary<string, string>(), (YamlMappingNode)stream.Documents[0].RootNode);
        }
        const string Good = """
            securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
            containers:
              - name: c
                securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
            volumes: [{name: v, emptyDir: {}}]
            """;
        Assert.Empty(PodSecurity.Violations(Pod(Good), "restricted"));
        var restrictedOnly = new[]
        {
            Good.Replace("runAsNonRoot: true", "runAsNonRoot: false", StringComparison.Ordinal),
            Good.Replace("type: RuntimeDefault", "type: Other", StringComparison.Ordinal),
            Good.Replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", StringComparison.Ordinal),
            Good.Replace("drop: [ALL]", "drop: [NET_RAW], add: [CHOWN]", StringComparison.Ordinal),
            Good.Replace("emptyDir: {}", "nfs: {server: x, path: /}", StringComparison.Ordinal),
        };
        foreach (var yaml in restrictedOnly)
        {
            Assert.NotEmpty(PodSecurity.Violations(Pod(yaml), "restricted"));
            Assert.Empty(PodSecurity.Violations(Pod(yaml), "baseline"));
        }
        var neither = new[]
        {
            Good.Replace("type: RuntimeDefault", "type: Unconfined", StringComparison.Ordinal),
            Good.Replace("drop: [ALL]", "drop: [ALL], add: [SYS_ADMIN]", StringComparison.Ordinal),
            Good.Replace("allowPrivilegeEscalation: false", "privileged: true", StringComparison.Ordinal),
            Good.Replace("emptyDir: {}", "hostPath: {path: /}", StringComparison.Ordinal),
            Good + "\nhostNetwork: true\n",
        };
        foreach (var yaml in neither)
        {
            Assert.NotEmpty(PodSecurity.Violations(Pod(yaml), "baseline"));
        }
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void Secrets_NoContainerTakesAWholeSecret_AndEachSecretValueIsASettingItsProgramReads()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            foreach (var pod in PodTemplates.Farm(objects))
            {
                foreach (var c in pod.Containers())
                {
                    var envFrom = c.At("envFrom") as YamlSequenceNode;
                    Assert.False(envFrom?.Children.OfType<YamlMappingNode>().Any(e => e.Children.ContainsKey(new YamlScalarNode("secretRef"))) ?? false,
                        $"{overlay}: {pod.Source} container {c.Name} takes a whole Secret (envFrom secretRef): name the keys it uses instead");
                }
            }

            // The worker and the API: each value from a Secret sets a property of an options class the program binds.
            foreach (var (workload, container) in new[] { ("buildfarm-worker", "worker"), ("buildfarm-api", "api") })
            {
                var pod = PodTemplates.Farm(objects).Single(p => p.Source == "Deployment/" + workload);
                var fromSecrets = SecretEnv(pod.Containers().Single(c => c.Name == container)).ToList();
                Assert.NotEmpty(fromSecrets);
                foreach (var (name, _, _) in fromSecrets)
                {
                    // Redis:ConnectionString is the one Redis setting of every host; the API's status store reads it.
                    var sharedRedis = container == "api" && name == BuildStatusStoreOptions.SharedRedisSetting.Replace(":", "__", StringComparison.Ordinal);
                    Assert.True(sharedRedis || IsSetting(name, s_programSettings[container]), $"{overlay}: {workload} gets {name} from a Secret, a setting it does not read");
                }
            }
            var api = PodTemplates.Farm(objects).Single(p => p.Source == "Deployment/buildfarm-api");
            Assert.Contains(SecretEnv(api.Containers().Single()), e => e.Name == "Redis__ConnectionString");
            Assert.DoesNotContain(SecretEnv(api.Containers().Single()), e => e.Name.StartsWith("Status__", StringComparison.Ordinal));

            // The nightly CronJob takes its own API key, nothing else.
            var cron = PodTemplates.Farm(objects).Single(p => p.Source == "CronJob/buildfarm-nightly");
            Assert.Equal(new[] { (ApiConnection.ApiKeyEnvironmentVariable, "buildfarm-api-keys", "nightly") },
                SecretEnv(cron.Containers().Single()).Select(e => (e.Name, BaseName(e.Secret, objects), e.Key)));
        }

        // KEDA's management API URL (components/admission-off: KEDA scales on the queue) is in a Secret of its own that no
        // pod reads.
        var production = Kustomize.RenderWith("admission-off");
        var trigger = RenderedConfig.Workload(production, "TriggerAuthentication", "buildfarm-rabbitmq");
        var kedaSecret = trigger.Scalar("spec", "secretTargetRef", "0", "name")!;
        foreach (var pod in PodTemplates.Farm(production))
        {
            Assert.DoesNotContain(kedaSecret, Text(pod.Spec), StringComparison.Ordinal);
        }

        // Production's Secrets are the operator's: every one a pod or KEDA names, and each key, is in docs/deploy.md.
        var guide = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, "docs", "deploy.md"));
        var named = PodTemplates.Farm(production).SelectMany(p => p.Containers().SelectMany(SecretEnv))
            .Select(e => (e.Secret, e.Key)).Append((kedaSecret, trigger.Scalar("spec", "secretTargetRef", "0", "key")!)).Distinct();
        foreach (var (secret, key) in named)
        {
            Assert.True(guide.Contains($"`{secret}`", StringComparison.Ordinal), $"docs/deploy.md does not name the Secret {secret}");
            Assert.True(guide.Contains($"`{key}`", StringComparison.Ordinal), $"docs/deploy.md does not name the key {key} of Secret {secret}");
        }
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void DevStores_RequireTheCredentialsTheFarmConnectsWith()
    {
        var objects = Kustomize.Render("overlays/dev");
        var redis = RenderedConfig.Workload(objects, "Deployment", "redis");
        var redisEnv = RenderedConfig.Environment(objects, redis, "redis");
        var password = redisEnv["REDIS_PASSWORD"];
        Assert.False(string.IsNullOrEmpty(password));
        var args = ((YamlSequenceNode)RenderedConfig.Container(redis, "redis")[new YamlScalarNode("args")]).Children.Select(a => a.ToString()).ToList();
        Assert.Equal("$(REDIS_PASSWORD)", args[args.IndexOf("--requirepass") + 1]);
        Assert.Equal(password, redisEnv["REDISCLI_AUTH"]);

        var worker = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker"), "worker");
        var api = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "Deployment", "buildfarm-api"), "api");
        Assert.Equal(password, StackExchange.Redis.ConfigurationOptions.Parse(worker["Redis__ConnectionString"]!).Password);
        Assert.Equal(password, StackExchange.Redis.ConfigurationOptions.Parse(api["Redis__ConnectionString"]!).Password);

        var rabbit = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "StatefulSet", "rabbitmq"), "rabbitmq");
        foreach (var env in new[] { worker, api })
        {
            Assert.Equal(rabbit["RABBITMQ_DEFAULT_USER"], env["Bus__Username"]);
            Assert.Equal(rabbit["RABBITMQ_DEFAULT_PASS"], env["Bus__Password"]);
        }
    }

    /// <summary>The container's env entries from a Secret: (variable, Secret name as rendered, key).</summary>
    private static IEnumerable<(string Name, string Secret, string Key)> SecretEnv(K8sObject container)
    {
        if (container.At("env") is not YamlSequenceNode env)
        {
            yield break;
        }
        foreach (var e in env.Children.OfType<YamlMappingNode>().Select(e => new K8sObject("Env", string.Empty, null, e)))
        {
            if (e.Scalar("valueFrom", "secretKeyRef", "name") is { } secret)
            {
                yield return (e.Scalar("name")!, secret, e.Scalar("valueFrom", "secretKeyRef", "key")!);
            }
        }
    }

    private static string Text(YamlNode node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(node)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    /// <summary>A generated Secret's name without kustomize's hash suffix.</summary>
    private static string BaseName(string rendered, IReadOnlyList<K8sObject> objects) =>
        objects.Any(o => o.Kind == "Secret" && o.Name == rendered) && rendered.LastIndexOf('-') is > 0 and var dash
            ? rendered[..dash]
            : rendered;

    /// <summary>Whether <c>Section__Key</c> names a public settable property of one of the options classes.</summary>
    private static bool IsSetting(string variable, Type[] options)
    {
        var parts = variable.Split("__");
        if (parts.Length != 2)
        {
            return false;
        }
        return options.Any(t => string.Equals((string?)t.GetField("SectionName")?.GetValue(null), parts[0], StringComparison.OrdinalIgnoreCase)
            && t.GetProperty(parts[1], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { CanWrite: true });
    }
}
