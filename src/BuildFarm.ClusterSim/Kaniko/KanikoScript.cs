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
public static class KanikoScript
{
    /// <summary>Decides the pod's fate and timeline (offsets in simulated seconds). <paramref name="podKey"/>
    /// (namespace/name) and <paramref name="seed"/> make the digest; <paramref name="timeAt"/> maps an offset to the
    /// time printed in the log (the container starts at offset 0). <c>imageDigest</c> is the digest pushed when the image
    /// is real (a scenario registry with an <c>endpoint</c>); null makes one up from the seed and pod.</summary>
    public static KanikoRun Plan(KanikoArgs args, Scenario scenario, Random random, string podKey, long seed,
        Func<double, DateTimeOffset> timeAt, string podIp, string? imageDigest = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(timeAt);
        var builder = new Builder(args, scenario, random, podKey, seed, timeAt, podIp) { ImageDigestOverride = imageDigest };
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

    private sealed class Builder
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

        private (TimingSettings Timings, FaultSettings Faults) For(string registry)
        {
            var timings = _scenario.Timings;
            if (_scenario.Registries.TryGetValue(registry, out var r))
            {
                timings = r.Timings?.Over(timings) ?? timings;
            }
            return (timings, _scenario.FaultsFor(registry));
        }

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
            var oom = Chance(podFaults.OomKilled);
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

        private KanikoRun Script(DockerfileSettings dockerfile, ImageRef baseRef, TimingSettings pullTimings, FaultSettings pullFaults,
            List<ImageRef> destinations, string imageDigest, bool unauthorized, bool baseNotFound, bool runFails, int runExitCode, bool oom)
        {
            // Push-permission probe (before any log line when it fails).
            _t += 0.05 + _random.NextDouble() * 0.2;
            if (unauthorized && destinations.Count > 0 && !_args.NoPush)
            {
                var d = destinations[0];
                Plain("error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: "
                    + $"checking push permission for \"{_args.Destinations[0]}\": POST https://{d.Registry}/v2/{d.Repository}/blobs/uploads/: UNAUTHORIZED: authentication required; "
                    + $"[map[Action:pull Class: Name:{d.Repository} Type:repository] map[Action:push Class: Name:{d.Repository} Type:repository]]");
                return End(PodFate.Failed, 1, string.Empty, imageDigest);
            }

            var baseName = dockerfile.Base;
            Info($"Retrieving image manifest {baseName}");
            Info($"Retrieving image {baseName} from registry {baseRef.Registry}");
            var manifestUrl = $"https://{baseRef.Registry}/v2/{baseRef.Repository}/manifests/{baseRef.Tag}";
            for (var attempt = 0; ; attempt++)
            {
                string? error = null;
                if (baseNotFound)
                {
                    _t += 0.1 + _random.NextDouble() * 0.3;
                    error = $"GET {manifestUrl}: MANIFEST_UNKNOWN: manifest unknown; map[Tag:{baseRef.Tag}]";
                }
                else if (Chance(pullFaults.PullReset))
                {
                    Advance(pullTimings.FailedAttempt);
                    error = $"Get \"{manifestUrl}\": {ResetError(baseRef.Registry)}";
                }
                else if (Chance(pullFaults.PullTimeout))
                {
                    _t += 30;
                    error = $"Get \"{manifestUrl}\": {TimeoutError(baseRef.Registry)}";
                }
                if (error is null)
                {
                    Advance(pullTimings.Manifest);
                    break;
                }
                if (attempt >= _args.ImageDownloadRetry)
                {
                    Plain($"error building image: unable to complete operation after {_args.ImageDownloadRetry} attempts, last error: {error}");
                    return End(PodFate.Failed, 1, string.Empty, imageDigest);
                }
                var delay = 1L << attempt;
                Warn($"Retrying operation after {GoDuration(delay)} due to {error}");
                _t += delay;
            }

            var cacheRepo = _args.CacheRepo ?? (destinations.Count > 0 ? destinations[0].FullRepository + "/cache" : "cache");
            if (_args.Cache)
            {
                Info($"Retrieving image manifest {baseName}");
                Info("Returning cached image manifest");
            }
            Info("Built cross stage deps: map[]");
            Info($"Retrieving image manifest {baseName}");
            Info("Returning cached image manifest");
            Info("Executing 0 build triggers");
            Info($"Building stage '{baseName}' [idx: '0', base-idx: '-1']");

            var steps = dockerfile.Steps.Select(s => s.Trim()).ToList();
            var cached = new HashSet<int>();
            if (_args.Cache)
            {
                for (var i = 0; i < steps.Count; i++)
                {
                    if (!IsRun(steps[i]))
                    {
                        continue;
                    }
                    var key = Sha256Hex($"{baseName}\n{string.Join('\n', steps.Take(i + 1))}");
                    Info($"Checking for cached layer {cacheRepo}:{key}...");
                    if (Chance(_scenario.Cache.HitRate))
                    {
                        Info($"Using caching version of cmd: {steps[i]}");
                        cached.Add(i);
                        continue;
                    }
                    Info($"No cached layer found for cmd {steps[i]}");
                    break;
                }
            }

            var first = steps.FirstOrDefault(s => IsRun(s) || Keyword(s) is "COPY" or "ADD");
            if (first is null)
            {
                Info("Skipping unpacking as no commands require it.");
            }
            else
            {
                Info($"Unpacking rootfs as cmd {first} requires it.");
                for (var attempt = 0; ; attempt++)
                {
                    if (!Chance(pullFaults.ExtractReset))
                    {
                        Advance(pullTimings.Extract);
                        break;
                    }
                    Advance(pullTimings.FailedAttempt);
                    var error = ResetError(baseRef.Registry);
                    if (attempt >= _args.ImageFsExtractRetry)
                    {
                        Plain($"error building image: error building stage: failed to get filesystem from image: {error}");
                        return End(PodFate.Failed, 1, string.Empty, imageDigest);
                    }
                    var delay = 1L << attempt;
                    Warn($"Retrying operation after {GoDuration(delay)} due to {error}");
                    _t += delay;
                }
            }

            var lastRun = steps.FindLastIndex(IsRun);
            var snapshotterReady = false;
            for (var i = 0; i < steps.Count; i++)
            {
                var step = steps[i];
                Info(step);
                switch (Keyword(step))
                {
                    case "RUN" when cached.Contains(i):
                        Info("Found cached layer, extracting to filesystem");
                        Advance(_scenario.Timings.Step);
                        break;
                    case "RUN":
                        if (!snapshotterReady)
                        {
                            Info("Initializing snapshotter ...");
                            Info("Taking snapshot of full filesystem...");
                            snapshotterReady = true;
                        }
                        var (cmd, cmdArgs, argv) = RunArgv(step);
                        Info($"Cmd: {cmd}");
                        Info($"Args: [{cmdArgs}]");
                        Info($"Running: [{argv}]");
                        var duration = _scenario.Timings.Run!.Sample(_random);
                        if (oom && i == lastRun)
                        {
                            _t += duration * (0.3 + 0.6 * _random.NextDouble());
                            return End(PodFate.OomKilled, 137, string.Empty, imageDigest);
                        }
                        var output = dockerfile.RunOutput;
                        for (var o = 0; o < output.Count; o++)
                        {
                            _t += duration * 0.8 / Math.Max(1, output.Count);
                            Plain(output[o]);
                        }
                        _t += duration * (output.Count > 0 ? 0.2 : 1.0);
                        if (runFails && i == lastRun)
                        {
                            var code = runExitCode;
                            Plain($"error building image: error building stage: failed to execute command: waiting for process to exit: exit status {code}");
                            return End(PodFate.Failed, code, string.Empty, imageDigest);
                        }
                        Info("Taking snapshot of full filesystem...");
                        if (_args.Cache)
                        {
                            var key = Sha256Hex($"{baseName}\n{string.Join('\n', steps.Take(i + 1))}");
                            Info($"Pushing layer {cacheRepo}:{key} to cache now");
                            Info($"Pushing image to {cacheRepo}:{key}");
                            _t += 0.2 + _random.NextDouble();
                            Info($"Pushed {CacheRepository(cacheRepo)}@sha256:{Sha256Hex($"{_seed}/{key}")}");
                        }
                        break;
                    case "WORKDIR":
                        var dir = step[7..].Trim();
                        Info("Cmd: workdir");
                        Info($"Changed working directory to {dir}");
                        Info($"Creating directory {dir} with uid -1 and gid -1");
                        Advance(_scenario.Timings.Step);
                        Info("Taking snapshot of files...");
                        break;
                    case "COPY" or "ADD":
                        Advance(_scenario.Timings.Step);
                        Info("Taking snapshot of files...");
                        break;
                    default:
                        _t += 0.01;
                        break;
                }
            }

            if (_args.NoPush || destinations.Count == 0)
            {
                Info("Skipping push to container registry due to --no-push flag");
                return End(PodFate.Succeeded, 0, string.Empty, imageDigest);
            }
            for (var d = 0; d < destinations.Count; d++)
            {
                var dest = destinations[d];
                var (pushTimings, pushFaults) = For(dest.Registry);
                Info($"Pushing image to {_args.Destinations[d]}");
                for (var attempt = 0; ; attempt++)
                {
                    string? error = null;
                    if (Chance(pushFaults.PushReset))
                    {
                        Advance(pushTimings.FailedAttempt);
                        error = $"Patch \"{UploadUrl(dest)}\": {ResetError(dest.Registry)}";
                    }
                    else if (Chance(pushFaults.PushTimeout))
                    {
                        _t += 30;
                        error = $"Patch \"{UploadUrl(dest)}\": {TimeoutError(dest.Registry)}";
                    }
                    if (error is null)
                    {
                        Advance(pushTimings.Push);
                        break;
                    }
                    if (attempt >= _args.PushRetry)
                    {
                        Plain($"error pushing image: failed to push to destination {_args.Destinations[d]}: {error}");
                        return End(PodFate.Failed, 1, string.Empty, imageDigest);
                    }
                    var delay = 1L << attempt;
                    Warn($"Retrying operation after {GoDuration(delay)} due to {error}");
                    _t += delay;
                }
                Info($"Pushed {dest.FullRepository}@{imageDigest}");
            }
            return End(PodFate.Succeeded, 0, _args.DigestFile is null ? string.Empty : imageDigest, imageDigest);
        }

        private static string CacheRepository(string cacheRepo) => ImageRef.Parse(cacheRepo).FullRepository;
    }

    private static string Keyword(string step)
    {
        var space = step.IndexOf(' ', StringComparison.Ordinal);
        return (space < 0 ? step : step[..space]).ToUpperInvariant();
    }

    private static bool IsRun(string step) => Keyword(step) == "RUN";

    /// <summary>Kaniko's Cmd/Args/Running renderings of a RUN (shell form runs <c>/bin/sh -c</c>).</summary>
    private static (string Cmd, string Args, string Argv) RunArgv(string step)
    {
        var body = step[3..].Trim();
        if (body.StartsWith('['))
        {
            try
            {
                var parts = System.Text.Json.JsonSerializer.Deserialize<string[]>(body);
                if (parts is { Length: > 0 })
                {
                    return (parts[0], string.Join(' ', parts.Skip(1)), string.Join(' ', parts));
                }
            }
            catch (System.Text.Json.JsonException)
            {
                // Not a JSON array: Docker runs it as a shell command, and so do we.
            }
        }
        return ("/bin/sh", $"-c {body}", $"/bin/sh -c {body}");
    }
}
