using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Benchmarks;

/// <summary>
/// Throughput of <see cref="KanikoLogAnalyzer"/> on a realistic mixed log (~4 MB: Kaniko lines, RUN output,
/// retries, a cache push, the final push) in each layout. Extra columns give MB/s (10^6 bytes of UTF-8 log per
/// second, from the mean) and bytes allocated per MB of log.
/// Run: <c>dotnet run -c Release --project load-tests/BuildFarm.Benchmarks -- --filter '*KanikoLogAnalyzer*' --job short</c>
/// </summary>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class KanikoLogAnalyzerBenchmarks
{
    public enum LogLayout
    {
        Color,
        ColorKubernetesPrefix,
        Text,
        Json,
    }

    private static readonly KanikoLogAnalyzerOptions Options = new() { Destinations = ["registry.example.com/team/app:1.0"] };

    private string _log = string.Empty;

    [Params(LogLayout.Color, LogLayout.ColorKubernetesPrefix, LogLayout.Text, LogLayout.Json)]
    public LogLayout Layout { get; set; }

    /// <summary>Log size in bytes per layout, read by the throughput columns.</summary>
    internal static Dictionary<LogLayout, long> LogBytes { get; } = [];

    [GlobalSetup]
    public void Setup()
    {
        _log = MixedLog.Build(Layout, targetBytes: 4_000_000);
        LogBytes[Layout] = Encoding.UTF8.GetByteCount(_log);
        var check = KanikoLogAnalyzer.Analyze(new StringReader(_log), Options);
        if (check.Outcome != KanikoOutcome.Succeeded || check.Pushed.Count != 1 || check.TotalResets != 2)
        {
            throw new InvalidOperationException($"benchmark log analysed wrongly: {check}");
        }
    }

    [Benchmark]
    public KanikoLogAnalysis Analyze() => KanikoLogAnalyzer.Analyze(new StringReader(_log), Options);

    /// <summary>Renders the mixed log in one layout.</summary>
    private static class MixedLog
    {
        private static readonly DateTime Start = new(2026, 11, 28, 19, 0, 0, DateTimeKind.Utc);

        public static string Build(LogLayout layout, int targetBytes)
        {
            var sb = new StringBuilder(targetBytes + 4096);
            var t = 0.0;
            void K(string level, string message) => sb.Append(Kaniko(layout, t, level, message)).Append('\n');
            void P(string text)
            {
                if (layout == LogLayout.ColorKubernetesPrefix)
                {
                    sb.Append(KubernetesStamp(t));
                }

                sb.Append(text).Append('\n');
            }

            K("info", "Retrieving image manifest golang:1.22");
            K("info", "Retrieving image golang:1.22 from registry index.docker.io");
            t += 1.5;
            K("info", "Built cross stage deps: map[]");
            K("info", "Retrieving image manifest golang:1.22");
            K("info", "Returning cached image manifest");
            K("info", "Executing 0 build triggers");
            K("info", "Building stage 'golang:1.22' [idx: '0', base-idx: '-1']");
            K("info", "Checking for cached layer registry.example.com/team/app/cache:5c1f0f6e2b8a4d7c9e3f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d...");
            K("info", "No cached layer found for cmd RUN go build -o /out/app ./cmd/app");
            K("info", "Unpacking rootfs as cmd COPY . /src requires it.");
            t += 4;
            K("warning", "Retrying operation after 1s due to read tcp 10.1.2.3:45678->10.9.8.7:443: read: connection reset by peer");
            t += 6;
            var step = 0;
            while (sb.Length < targetBytes - 2000)
            {
                step++;
                K("info", $"RUN go build -o /out/app{step % 10} ./cmd/app && echo \"built\" > /out/status");
                K("info", "Initializing snapshotter ...");
                K("info", "Taking snapshot of full filesystem...");
                K("info", "Cmd: /bin/sh");
                K("info", $"Args: [-c go build -o /out/app{step % 10} ./cmd/app && echo \"built\" > /out/status]");
                K("info", $"Running: [/bin/sh -c go build -o /out/app{step % 10} ./cmd/app && echo \"built\" > /out/status]");
                for (var i = 0; i < 40; i++)
                {
                    t += 0.01;
                    P((i % 4) switch
                    {
                        0 => $"go: downloading github.com/example/module{i} v1.{i}.3",
                        1 => $"    compiling github.com/example/module{i}/internal/parser (cached) ok",
                        2 => $"ok  \tgithub.com/example/module{i}/internal/parser\t0.{i:000}s\tcoverage: 81.{i}% of statements",
                        _ => "[INFO] Building jar: /src/target/app.jar -- 2 warnings, 0 errors; Connection reset by peer retried",
                    });
                }

                K("info", "Taking snapshot of full filesystem...");
                if (step == 3)
                {
                    K("info", "Pushing layer registry.example.com/team/app/cache:5c1f0f6e2b8a4d7c9e3f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d to cache now");
                    K("info", "Pushing image to registry.example.com/team/app/cache:5c1f0f6e2b8a4d7c9e3f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d");
                    K("info", "Pushed registry.example.com/team/app/cache@sha256:b1185bf2122b6bbc2bee9e72d7a40946b0ca3cc76b36da3d419d9986c55d7253");
                }
            }

            t += 2;
            K("info", "Pushing image to registry.example.com/team/app:1.0");
            t += 3;
            K("warning", "Retrying operation after 1s due to Patch \"https://registry.example.com/v2/team/app/blobs/uploads/abc?_state=x\": read: connection reset by peer");
            t += 2;
            K("info", "Pushed registry.example.com/team/app@sha256:6ffb99d2f1eeef2b9575206798a35d2a448914523968fe650ab79e60c4647853");
            return sb.ToString();
        }

        private static string KubernetesStamp(double t) =>
            Start.AddSeconds(t).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z '", CultureInfo.InvariantCulture);

        private static string Kaniko(LogLayout layout, double t, string level, string message)
        {
            var time = Start.AddSeconds(Math.Floor(t)).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            var colour = level == "warning" ? "33" : "36";
            var short4 = level[..4].ToUpperInvariant();
            return layout switch
            {
                LogLayout.Color => $"\u001b[{colour}m{short4}\u001b[0m[{time}] {message,-44} ",
                LogLayout.ColorKubernetesPrefix => $"{KubernetesStamp(t)}\u001b[{colour}m{short4}\u001b[0m[{time}] {message,-44} ",
                LogLayout.Text => $"time=\"{time}\" level={level} msg=\"{message.Replace("\"", "\\\"", StringComparison.Ordinal)}\"",
                _ => $"{{\"level\":\"{level}\",\"msg\":\"{message.Replace("\"", "\\\"", StringComparison.Ordinal).Replace("&", "\\u0026", StringComparison.Ordinal).Replace(">", "\\u003e", StringComparison.Ordinal)}\",\"time\":\"{time}\"}}",
            };
        }
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig()
        {
            AddColumn(new PerMegabyteColumn("MB/s", perMegabyte: false));
            AddColumn(new PerMegabyteColumn("Alloc B/MB", perMegabyte: true));
        }
    }

    /// <summary>MB/s from the mean time, or allocated bytes per MB of log, for the case's layout.</summary>
    private sealed class PerMegabyteColumn(string name, bool perMegabyte) : IColumn
    {
        public string Id => nameof(PerMegabyteColumn) + name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => perMegabyte ? "Bytes allocated per 10^6 bytes of log" : "10^6 bytes of log analysed per second";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            var layout = (LogLayout)benchmarkCase.Parameters["Layout"];
            var bytes = MixedLogSize(layout);
            if (report?.ResultStatistics is null || bytes <= 0)
            {
                return "?";
            }

            var megabytes = bytes / 1_000_000.0;
            if (perMegabyte)
            {
                var allocated = report.GcStats.GetBytesAllocatedPerOperation(benchmarkCase);
                return allocated is null ? "?" : (allocated.Value / megabytes).ToString("N0", CultureInfo.InvariantCulture);
            }

            var seconds = report.ResultStatistics.Mean / 1e9;
            return (megabytes / seconds).ToString("N1", CultureInfo.InvariantCulture);
        }

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

        public bool IsAvailable(Summary summary) => true;

        // The summary is built in the host process: regenerate the (deterministic) log to know its size.
        private static long MixedLogSize(LogLayout layout)
        {
            if (!LogBytes.TryGetValue(layout, out var bytes))
            {
                bytes = Encoding.UTF8.GetByteCount(MixedLog.Build(layout, targetBytes: 4_000_000));
                LogBytes[layout] = bytes;
            }

            return bytes;
        }
    }
}
