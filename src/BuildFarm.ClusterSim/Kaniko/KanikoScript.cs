using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Kaniko;

/// <summary>How a simulated pod ends.</summary>
public enum PodFate
{
    Succeeded,

    /// <summary>Kaniko exited non-zero (see <see cref="KanikoRun.ExitCode"/>).</summary>
    Failed,

    /// <summary>The container was OOM-killed: the log just stops, exit 137.</summary>
    OomKilled,

    /// <summary>The kubelet evicted the pod (phase Failed, reason Evicted).</summary>
    Evicted,

    /// <summary>The node stopped responding; the pod is deleted by the taint manager.</summary>
    NodeLost,

    /// <summary>The executor image cannot be pulled: the pod stays Pending in ImagePullBackOff.</summary>
    ImagePullBackOff,
}

/// <summary>One log line at a simulated offset (seconds since the container started).</summary>
public readonly record struct ScriptLine(double Offset, string Text);

/// <summary>The planned run of one Kaniko container.</summary>
public sealed record KanikoRun
{
    public required IReadOnlyList<ScriptLine> Lines { get; init; }
    public required PodFate Fate { get; init; }
    public required int ExitCode { get; init; }

    /// <summary>Simulated seconds from container start to its end (or to the eviction / node loss).</summary>
    public required double Duration { get; init; }

    /// <summary><c>sha256:…</c> written to <c>--digest-file</c>, or empty when nothing was pushed.</summary>
    public required string Digest { get; init; }

    /// <summary>The image digest Kaniko would push (also when the push fails).</summary>
    public required string ImageDigest { get; init; }
}

/// <summary>
/// Plans what a Kaniko executor prints and how it ends, from the pod's args and a scenario, using Kaniko's exact
/// wording (kaniko-facts §5–§8). Pure: the same inputs and random sequence give the same run.
/// </summary>
public static partial class KanikoScript
{
    /// <summary>Decides the pod's fate and timeline (offsets in simulated seconds). <paramref name="podKey"/>
    /// (namespace/name) and <paramref name="seed"/> make the digest; <paramref name="timeAt"/> maps an offset to the
    /// time printed in the log (the container starts at offset 0). <c>imageDigest</c> is the digest pushed when the image
    /// is real (a scenario registry with an <c>endpoint</c>); null makes one up from the seed and pod. <c>memoryLimit</c>:
    /// the Kaniko container's memory limit in bytes (null: none); below the Dockerfile's <c>memory</c> the pod is OOM-killed.</summary>
    public static KanikoRun Plan(KanikoArgs args, Scenario scenario, Random random, string podKey, long seed,
        Func<double, DateTimeOffset> timeAt, string podIp, string? imageDigest = null, Func<string, int>? registryLoad = null, decimal? memoryLimit = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(timeAt);
        var builder = new Builder(args, scenario, random, podKey, seed, timeAt, podIp) { ImageDigestOverride = imageDigest, RegistryLoad = registryLoad, MemoryLimit = memoryLimit };
        return builder.Build();
    }

    /// <summary>Hex SHA-256 of a string.</summary>
    /// <summary>
    /// The faults of a pod pushing to <paramref name="destinations"/>: those of the first destination's registry
    /// (<c>registries.&lt;host&gt;.faults</c> over the global <c>faults</c>), or the global faults without a destination.
    /// A pod's own fates (<c>runFailure</c>, <c>runExitCode</c>, <c>oomKilled</c>, <c>evicted</c>, <c>nodeLost</c>) and the push
    /// permission (<c>unauthorized</c>) are drawn from these.
    /// </summary>
    public static FaultSettings PodFaults(Scenario scenario, IReadOnlyList<string> destinations)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(destinations);
        return destinations.Count > 0 ? scenario.FaultsFor(ImageRef.Parse(destinations[0]).Registry) : scenario.Faults;
    }

    public static string Sha256Hex(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Go's <c>time.Duration.String()</c> for whole seconds: 1s, 2s, 1m4s, 1h0m0s.</summary>
    public static string GoDuration(long seconds)
    {
        if (seconds < 60)
        {
            return seconds.ToString(CultureInfo.InvariantCulture) + "s";
        }
        var h = seconds / 3600;
        var m = seconds % 3600 / 60;
        var s = seconds % 60;
        return h > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{h}h{m}m{s}s")
            : string.Create(CultureInfo.InvariantCulture, $"{m}m{s}s");
    }

    private sealed partial class Builder
    {
        private readonly KanikoArgs _args;
        private readonly Scenario _scenario;
        private readonly Random _random;
        private readonly string _podKey;
        private readonly long _seed;
        private readonly Func<double, DateTimeOffset> _timeAt;
        private readonly string _podIp;
        private readonly List<ScriptLine> _lines = [];
        private double _t;

        public Builder(KanikoArgs args, Scenario scenario, Random random, string podKey, long seed, Func<double, DateTimeOffset> timeAt, string podIp)
        {
            _args = args;
            _scenario = scenario;
            _random = random;
            _podKey = podKey;
            _seed = seed;
            _timeAt = timeAt;
            _podIp = podIp;
        }

        private void Info(string message) => Log(KanikoLevel.Info, message);

        private void Warn(string message) => Log(KanikoLevel.Warning, message);

        private void Log(KanikoLevel level, string message)
        {
            var time = _timeAt(_t);
            var elapsed = (long)Math.Floor((time - _timeAt(0)).TotalSeconds);
            _lines.Add(new ScriptLine(_t, KanikoLogFormatter.Format(_args.LogFormat, _args.LogTimestamp, level, message, time, elapsed)));
        }

        /// <summary>Output of a process or the final error: printed as is, no logrus prefix.</summary>
        private void Plain(string text) => _lines.Add(new ScriptLine(_t, text));

        private void Advance(Distribution? d)
        {
            if (d is not null)
            {
                _t += d.Sample(_random);
            }
        }

        private bool Chance(double? p) => _random.NextDouble() < (p ?? 0);

        private (TimingSettings Timings, FaultSettings Faults) For(string registry) => For(registry, out _);

        /// <summary>The timings and faults for <paramref name="registry"/>; <paramref name="tooManyRequests"/>: the
        /// share of its push resets answered 429 instead (the capacity model's, when it applies; else 0).</summary>
        private (TimingSettings Timings, FaultSettings Faults) For(string registry, out double tooManyRequests)
        {
            tooManyRequests = 0;
            var timings = _scenario.Timings;
            _scenario.Registries.TryGetValue(registry, out var r);
            if (r is not null)
            {
                timings = r.Timings?.Over(timings) ?? timings;
            }
            var faults = _scenario.FaultsFor(registry);
            // The registry's capacity model: pushing while more pods push there than it can take resets connections.
            if (r?.Capacity is { } capacity && RegistryLoad?.Invoke(registry) is { } load
                && Scenario.CongestionResetRate(load, capacity) is var congestion && congestion > (faults.PushReset ?? 0))
            {
                faults = new FaultSettings { PushReset = congestion }.Over(faults);
                tooManyRequests = r.TooManyRequests;
            }
            return (timings, faults);
        }

        /// <summary>How many pods push to a registry right now (the simulator's count, this pod included); null: not modelled.</summary>
        public Func<string, int>? RegistryLoad { get; init; }

        private DockerfileSettings Dockerfile()
        {
            foreach (var d in _scenario.Dockerfiles)
            {
                var m = d.Match!;
                if (_args.Context.Contains(m, StringComparison.Ordinal) || _args.Dockerfile.Contains(m, StringComparison.Ordinal)
                    || _args.Destinations.Any(x => x.Contains(m, StringComparison.Ordinal)))
                {
                    return d;
                }
            }
            return _scenario.Dockerfile;
        }

        private static string RegistryIp(string registry)
        {
            var h = SHA256.HashData(Encoding.UTF8.GetBytes(registry));
            return string.Create(CultureInfo.InvariantCulture, $"{34 + h[0] % 20}.{h[1]}.{h[2]}.{1 + h[3] % 254}");
        }

        private string ResetError(string registry) => string.Create(CultureInfo.InvariantCulture,
            $"read tcp {_podIp}:{_random.Next(32768, 61000)}->{RegistryIp(registry)}:443: read: connection reset by peer");

        /// <summary>A registry's 429 as go-containerregistry prints it: the request, then the registry's error code and
        /// message from the body (the distribution spec's <c>TOOMANYREQUESTS</c>).</summary>
        private static string TooManyRequestsError(string url) => $"PATCH {url}: TOOMANYREQUESTS: too many requests";

        private static string TimeoutError(string registry) => string.Create(CultureInfo.InvariantCulture,
            $"dial tcp {RegistryIp(registry)}:443: i/o timeout");

        private string UploadUrl(ImageRef dest) =>
            $"https://{dest.Registry}/v2/{dest.Repository}/blobs/uploads/{Guid(_random)}?_state={Convert.ToBase64String(RandomBytes(48)).Replace("+", "-", StringComparison.Ordinal).Replace("/", "_", StringComparison.Ordinal)}";

        private byte[] RandomBytes(int n)
        {
            var b = new byte[n];
            _random.NextBytes(b);
            return b;
        }

        private static string Guid(Random random)
        {
            var b = new byte[16];
            random.NextBytes(b);
            return new Guid(b).ToString();
        }

        public string? ImageDigestOverride { get; init; }

        /// <summary>The Kaniko container's memory limit in bytes; null: none.</summary>
        public decimal? MemoryLimit { get; init; }

        /// <summary>The build needs more memory than the container may use.</summary>
        private bool OverMemory(DockerfileSettings dockerfile) => MemoryLimit is { } limit && dockerfile.MemoryBytes() is { } needed && needed > limit;

        private KanikoRun End(PodFate fate, int exitCode, string digest, string imageDigest) => new()
        {
            Lines = _lines,
            Fate = fate,
            ExitCode = exitCode,
            Duration = _t,
            Digest = digest,
            ImageDigest = imageDigest,
        };

        public KanikoRun Build()
        {
            var dockerfile = Dockerfile();
            var baseRef = ImageRef.Parse(dockerfile.Base);
            var (pullTimings, pullFaults) = For(baseRef.Registry);
            var destinations = _args.Destinations.Select(ImageRef.Parse).ToList();
            var imageDigest = ImageDigestOverride ?? "sha256:" + Sha256Hex(string.Create(CultureInfo.InvariantCulture, $"{_seed}/{_podKey}/image"));

            // Pod-level fates are drawn first and always, in a fixed order, so a pod's fate does not depend on the
            // path its script takes.
            // The pod's own fates (a failing RUN, OOMKilled, eviction, a lost node) and the push permission follow the
            // faults of the build's first destination's registry (registries.<host>.faults over the global faults).
            var podFaults = PodFaults(_scenario, _args.Destinations);
            var unauthorized = Chance(podFaults.Unauthorized);
            var baseNotFound = Chance(pullFaults.BaseImageNotFound);
            var runFails = Chance(podFaults.RunFailure);
            var oom = Chance(podFaults.OomKilled) | OverMemory(dockerfile);
            var evicted = Chance(podFaults.Evicted);
            var nodeLost = Chance(podFaults.NodeLost);
            var interruptAt = _random.NextDouble();

            var run = Script(dockerfile, baseRef, pullTimings, pullFaults, destinations, imageDigest, unauthorized, baseNotFound, runFails, podFaults.RunExitCode ?? 1, oom);
            if ((evicted || nodeLost) && run.Fate is PodFate.Succeeded or PodFate.Failed)
            {
                var cut = run.Duration * interruptAt;
                return run with
                {
                    Lines = run.Lines.Where(l => l.Offset <= cut).ToList(),
                    Fate = evicted ? PodFate.Evicted : PodFate.NodeLost,
                    ExitCode = 137,
                    Duration = cut,
                    Digest = string.Empty,
                };
            }
            return run;
        }
    }
}
