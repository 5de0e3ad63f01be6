using System.Globalization;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// CPU time (user + system) of the processes that share the machine during a phase: the broker, Redis, the worker
/// child (or the baseline's consumer child) and this generator (which hosts the simulator), read from
/// <c>/proc/PID/stat</c>. With every process on the same cores, the sum per build bounds the builds/s the machine can
/// reach at all, whatever the worker does.
/// </summary>
public sealed class CpuMeter
{
    /// <summary>Linux reports utime and stime in USER_HZ, which is 100 on every architecture .NET runs on.</summary>
    private const double MsPerTick = 10;

    private readonly List<(string Name, int Pid)> _processes;

    public CpuMeter(IEnumerable<(string Name, int Pid)> processes)
    {
        ArgumentNullException.ThrowIfNull(processes);
        _processes = [.. processes.Where(p => p.Pid > 0)];
    }

    /// <summary>The broker's and Redis's pids as run-worker-load.sh exports them (0 when not given: own servers).</summary>
    public static (int Broker, int Redis) ServerPidsFromEnvironment() =>
        (Pid("BUILDFARM_LOAD_BROKER_PID"), Pid("BUILDFARM_LOAD_REDIS_PID"));

    private static int Pid(string variable) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0;

    public Dictionary<string, double> Snapshot()
    {
        var snapshot = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, pid) in _processes)
        {
            if (ReadMs(pid) is { } ms)
            {
                snapshot[name] = ms;
            }
        }
        return snapshot;
    }

    /// <summary>CPU ms per unit of work between two snapshots, by process, in the meter's order.</summary>
    public List<(string Name, double MsPerUnit)> PerUnit(Dictionary<string, double> before, Dictionary<string, double> after, int units)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        return [.. _processes.Where(p => before.ContainsKey(p.Name) && after.ContainsKey(p.Name))
            .Select(p => (p.Name, (after[p.Name] - before[p.Name]) / units))];
    }

    /// <summary>utime + stime of a process in ms, or null when it is gone or not readable.</summary>
    public static double? ReadMs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: fields are counted after its ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Field 14 (utime) and 15 (stime) of the whole line are the 12th and 13th after the name.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * MsPerTick;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
