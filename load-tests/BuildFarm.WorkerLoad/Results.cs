using System.Globalization;
using System.Text;

namespace BuildFarm.WorkerLoad;

/// <summary>The figures of one run and the results table (issue 4's targets, PASS or MISS).</summary>
public sealed class Results(LoadOptions options)
{
    /// <summary>"Flat" memory: the least-squares slope of the heap after a full GC stays under this, per 1,000 builds.</summary>
    public const double FlatHeapKibPer1000 = 100;

    public double RawMessagesPerSecond { get; set; }
    public double BuildsPerSecond { get; set; }

    /// <summary>Builds/s through a consumer that only publishes a build's two events (the message contract's floor).</summary>
    public double BusOnlyBuildsPerSecond { get; set; } = double.NaN;

    /// <summary>CPU ms per bus-only build by process.</summary>
    public IReadOnlyList<(string Name, double MsPerUnit)> BusOnlyCpu { get; set; } = [];

    /// <summary>Builds/s over the memory phase (many chunks); NaN when it did not run.</summary>
    public double SustainedBuildsPerSecond { get; set; } = double.NaN;
    public double LatencyP50 { get; set; }
    public double LatencyP99 { get; set; }
    public double LatencyMax { get; set; }
    public double EndToEndP50 { get; set; }
    public double EndToEndP99 { get; set; }
    public double OfferedRate { get; set; }
    public double ApiPerBuild { get; set; }
    public string ApiBreakdown { get; set; } = "";
    /// <summary>The worker's Redis commands over the burst (its client's profiler).</summary>
    public RedisProfile Redis { get; set; } = RedisProfile.From([], []);
    public double RedisServerPerBuild { get; set; }
    public double WorkerCpuMsPerBuild { get; set; }
    public double WorkerAllocatedPerBuild { get; set; }
    public int WorkerProcessId { get; set; }
    public int Failed { get; set; }
    public int UnknownEvents { get; set; }
    public string SimRequests { get; set; } = "";
    public IReadOnlyList<(int Builds, Mem Mem)> MemorySamples { get; set; } = [];

    /// <summary>CPU ms per raw message by process over the baseline.</summary>
    public IReadOnlyList<(string Name, double MsPerUnit)> RawCpu { get; set; } = [];

    /// <summary>CPU ms per build by process over the memory phase after its first chunk.</summary>
    public IReadOnlyList<(string Name, double MsPerUnit)> BuildCpu { get; set; } = [];

    /// <summary>How many builds <see cref="BuildCpu"/> covers.</summary>
    public int BuildCpuBuilds { get; set; }
    public List<string> Notes { get; } = [];

    /// <summary>The sustained figure when the memory phase ran, else the burst.</summary>
    public double Throughput => double.IsNaN(SustainedBuildsPerSecond) ? BuildsPerSecond : SustainedBuildsPerSecond;

    public double Ratio => Throughput / RawMessagesPerSecond;

    /// <summary>Least-squares slope in KiB per 1,000 builds of the samples after the first chunk (the first chunk fills caches).</summary>
    public static double SlopeKibPer1000(IReadOnlyList<(int Builds, long Bytes)> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var points = samples.Skip(1).ToList();
        if (points.Count < 2)
        {
            return double.NaN;
        }
        var mx = points.Average(p => (double)p.Builds);
        var my = points.Average(p => (double)p.Bytes);
        var sxy = points.Sum(p => (p.Builds - mx) * (p.Bytes - my));
        var sxx = points.Sum(p => (p.Builds - mx) * (p.Builds - mx));
        return sxy / sxx * 1000 / 1024;
    }

    public string Table()
    {
        var rows = new List<(string Figure, string Value, string Target, string Result)>
        {
            ("raw MassTransit publish->consume", $"{RawMessagesPerSecond:F0} msgs/s", "", ""),
            ("builds through one worker, sustained", double.IsNaN(SustainedBuildsPerSecond) ? "(no memory phase)" : $"{SustainedBuildsPerSecond:F0} builds/s over the memory phase", "", ""),
            ("  in the burst", $"{BuildsPerSecond:F0} builds/s ({options.Builds} published at once)", "", ""),
            ("ratio builds/s / raw msgs/s", $"{Ratio:F2}", ">= 0.5", Verdict(Ratio >= 0.5)),
            ("bus-only builds (command + 2 events)", $"{BusOnlyBuildsPerSecond:F0} builds/s: ratio to raw {BusOnlyBuildsPerSecond / RawMessagesPerSecond:F2}, worker to bus-only {Throughput / BusOnlyBuildsPerSecond:F2}", "", ""),
            ($"publish -> pod created at {OfferedRate:F0}/s offered", $"p50 {LatencyP50:F1} ms, p99 {LatencyP99:F1} ms (max {LatencyMax:F0})", "p99 < 50 ms", Verdict(LatencyP99 < 50)),
            ("  publish -> end event received", $"p50 {EndToEndP50:F1} ms, p99 {EndToEndP99:F1} ms", "", ""),
            ("Kubernetes API requests per build", $"{ApiPerBuild:F2} ({ApiBreakdown})", "<= 4 (besides the watch)", Verdict(ApiPerBuild <= 4)),
            ("Redis round trips per build", $"{Redis.RoundTripsPerBuild(options.Builds):F2} ({Redis.RoundTripsDetail(options.Builds)})", "<= 8",
                Verdict(Redis.RoundTripsPerBuild(options.Builds) <= 8)),
            ("  Redis commands sent per build", $"{Redis.CommandsPerBuild(options.Builds):F2} ({RedisProfile.PerBuild(Redis.Breakdown, options.Builds)})", "", ""),
            ("  Redis commands executed per build", $"{RedisServerPerBuild:F1} (server side, incl. inside scripts)", "", ""),
            ("worker CPU per build", $"{WorkerCpuMsPerBuild:F2} ms, allocated {WorkerAllocatedPerBuild / 1024:F0} KiB", "", ""),
        };
        if (MemorySamples.Count > 0)
        {
            var heap = SlopeKibPer1000([.. MemorySamples.Select(s => (s.Builds, s.Mem.Heap))]);
            var rss = SlopeKibPer1000([.. MemorySamples.Select(s => (s.Builds, s.Mem.Rss))]);
            var first = MemorySamples[1].Mem;
            var last = MemorySamples[^1].Mem;
            rows.Add(($"worker memory over {MemorySamples[^1].Builds} builds", string.Create(CultureInfo.InvariantCulture,
                $"heap after GC {first.Heap / 1048576.0:F1} -> {last.Heap / 1048576.0:F1} MiB, slope {heap:F0} KiB/1000 builds"),
                $"flat (< {FlatHeapKibPer1000:F0} KiB/1000)", Verdict(heap < FlatHeapKibPer1000)));
            rows.Add(("  worker RSS", string.Create(CultureInfo.InvariantCulture,
                $"{first.Rss / 1048576.0:F1} -> {last.Rss / 1048576.0:F1} MiB, slope {rss:F0} KiB/1000 builds ({(last.ServerGc ? "server" : "workstation")} GC)"), "", ""));
            var builds = MemorySamples[^1].Builds - MemorySamples[1].Builds;
            rows.Add(("  worker GC pauses", string.Create(CultureInfo.InvariantCulture,
                $"{(last.GcPauseMs - first.GcPauseMs) * 1000 / builds:F0} ms per 1000 builds (incl. the samples' forced collections)"), "", ""));
        }
        var width = rows.Max(r => r.Figure.Length);
        var valueWidth = rows.Max(r => r.Value.Length);
        var targetWidth = rows.Max(r => r.Target.Length);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"figure".PadRight(width)} | {"value".PadRight(valueWidth)} | {"target".PadRight(targetWidth)} | result");
        sb.AppendLine(new string('-', width + valueWidth + targetWidth + 15));
        foreach (var (figure, value, target, result) in rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{figure.PadRight(width)} | {value.PadRight(valueWidth)} | {target.PadRight(targetWidth)} | {result}");
        }
        sb.AppendLine();
        AppendCpu(sb, "raw message", RawCpu);
        AppendCpu(sb, "bus-only build", BusOnlyCpu);
        AppendCpu(sb, "build", BuildCpu);
        sb.AppendLine(CultureInfo.InvariantCulture, $"worker: one child process (pid {WorkerProcessId}), Worker:Slots {options.Slots}; " +
            $"builds not succeeded: {Failed}; events for unknown builds: {UnknownEvents}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"simulator pod requests in the whole run (besides list/watch): {SimRequests}");
        foreach (var note in Notes)
        {
            sb.AppendLine("note: " + note);
        }
        return sb.ToString();
    }

    /// <summary>
    /// CPU per unit by process, and the ceiling it sets: every process shares this machine's cores, so the units/s can
    /// not exceed cores × 1000 / (total CPU ms per unit).
    /// </summary>
    private static void AppendCpu(StringBuilder sb, string unit, IReadOnlyList<(string Name, double MsPerUnit)> cpu)
    {
        if (cpu.Count == 0)
        {
            return;
        }
        var total = cpu.Sum(c => c.MsPerUnit);
        var cores = Environment.ProcessorCount;
        sb.AppendLine(CultureInfo.InvariantCulture, $"CPU per {unit}: {string.Join(", ", cpu.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Name} {c.MsPerUnit:F2} ms")))}; " +
            $"total {total:F2} ms, so at most {cores * 1000 / total:F0} {unit}s/s on {cores} cores with everything on this machine");
    }

    private static string Verdict(bool pass) => pass ? "PASS" : "MISS";
}
