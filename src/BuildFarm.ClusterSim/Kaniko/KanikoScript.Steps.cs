using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Kaniko;

public static partial class KanikoScript
{
    // ---- the build itself, step by step: pulls, RUN steps, cache pushes and the destination pushes ---

    private sealed partial class Builder
    {
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
            // The scenario's per-image factor (imageDurations): the same image is consistently slow or fast.
            var runFactor = destinations.Count > 0 ? _scenario.ImageDurations.FactorOf(destinations[0].FullRepository) : 1;
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
                        var duration = _scenario.Timings.Run!.Sample(_random) * runFactor;
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
                var (pushTimings, pushFaults) = For(dest.Registry, out var tooManyRequests);
                Info($"Pushing image to {_args.Destinations[d]}");
                for (var attempt = 0; ; attempt++)
                {
                    string? error = null;
                    if (Chance(pushFaults.PushReset))
                    {
                        Advance(pushTimings.FailedAttempt);
                        // Drawn only when the capacity model answers some refusals 429: other scripts draw as before.
                        error = tooManyRequests > 0 && Chance(tooManyRequests)
                            ? TooManyRequestsError(UploadUrl(dest))
                            : $"Patch \"{UploadUrl(dest)}\": {ResetError(dest.Registry)}";
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
