using BuildFarm.WorkerLoad;

// Load generator for the worker (issue 4 "Performance"): the raw MassTransit baseline, then one worker in a child process
// against the real RabbitMQ and Redis (BUILDFARM_TEST_RABBITMQ, BUILDFARM_TEST_REDIS) and the cluster simulator (in this
// process, over HTTP, instant pods). Bounded by --timeout. See load-tests/README.md.
LoadOptions options;
Services services;
try
{
    options = LoadOptions.Parse(args);
    services = Services.FromEnvironment();
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"workerload: {e.Message}");
    return 2;
}
if (options.Child is not null)
{
    return await Child.RunAsync(options);
}

// The round-trip grouping is checked on known cases before anything is measured with it.
RoundTrips.SelfCheck();
using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
if (options.LogsCompare > 0)
{
    return await CompareAsync($"log store off vs on, {options.LogsCompare} round(s): {options.Warmup} warm-up + {options.Builds} measured builds per setting and round",
        token => new LoadRun(options, services).RunLogsCompareAsync(token), c => (c.Table(), c.Failed), options, services, deadline);
}
if (options.AdmissionCompare > 0)
{
    return await CompareAsync($"admission off vs on, {options.AdmissionCompare} round(s): {options.Warmup} warm-up + {options.Builds} counted builds + " +
        $"{options.Rate} builds/s for {options.RampSeconds} + {options.LatencySeconds} s per setting and round",
        token => new LoadRun(options, services).RunAdmissionCompareAsync(token), c => (c.Table(), c.Failed), options, services, deadline);
}
Console.WriteLine($"workerload: baseline {options.RawMessages} msgs; {options.Builds} builds at once; {options.Rate} builds/s for {options.RampSeconds} + {options.LatencySeconds} s; " +
    $"{options.MemoryBuilds} builds for memory; Worker:Slots {options.Slots}, {options.WorkerGc} GC; warm-up {options.Warmup}; limit {options.TimeoutSeconds} s");
Console.WriteLine($"broker {services.RabbitHost}:{services.RabbitPort}, redis {services.Redis}; {Environment.ProcessorCount} cores");
Console.WriteLine($"load average at start: {LoadAverage()}");
var results = await RunBoundedAsync(token => new LoadRun(options, services).RunAsync(token), options, deadline);
if (results is null)
{
    return 1;
}
Console.WriteLine($"load average at end: {LoadAverage()}");
using (var self = System.Diagnostics.Process.GetCurrentProcess())
{
    Console.WriteLine($"load generator{(options.SimInProcess ? " (with the simulator)" : "")}: cpu {self.TotalProcessorTime.TotalSeconds:F1} s, peak RSS {self.PeakWorkingSet64 / (1024 * 1024)} MiB");
}
Console.WriteLine();
Console.WriteLine(results.Table());
return results.Failed == 0 ? 0 : 1;

// A setting off vs on in the same run: issue 14's log store (LoadRun.LogsCompare.cs), issue 17's admission
// (LoadRun.AdmissionCompare.cs).
static async Task<int> CompareAsync<T>(string title, Func<CancellationToken, Task<T>> run, Func<T, (string Table, int Failed)> report, LoadOptions options,
    Services services, CancellationTokenSource deadline)
    where T : class
{
    Console.WriteLine($"workerload: {title}; Worker:Slots {options.Slots}, {options.WorkerGc} GC; limit {options.TimeoutSeconds} s");
    Console.WriteLine($"broker {services.RabbitHost}:{services.RabbitPort}, redis {services.Redis}; {Environment.ProcessorCount} cores");
    Console.WriteLine($"load average at start: {LoadAverage()}");
    var comparison = await RunBoundedAsync(run, options, deadline);
    if (comparison is null)
    {
        return 1;
    }
    Console.WriteLine($"load average at end: {LoadAverage()}");
    Console.WriteLine();
    var (table, failed) = report(comparison);
    Console.WriteLine(table);
    return failed == 0 ? 0 : 1;
}

// Runs one measurement within --timeout; null (said on stderr) when it ran out of time or a server failed.
static async Task<T?> RunBoundedAsync<T>(Func<CancellationToken, Task<T>> run, LoadOptions options, CancellationTokenSource deadline)
    where T : class
{
    try
    {
        return await run(deadline.Token);
    }
    catch (OperationCanceledException) when (deadline.IsCancellationRequested)
    {
        await Console.Error.WriteLineAsync($"workerload: the run did not finish within --timeout {options.TimeoutSeconds} s");
        return null;
    }
    catch (Exception e) when (e is InvalidOperationException or RabbitMQ.Client.Exceptions.BrokerUnreachableException or StackExchange.Redis.RedisConnectionException)
    {
        await Console.Error.WriteLineAsync($"workerload: {e.Message}");
        return null;
    }
}

static string LoadAverage()
{
    try
    {
        return File.ReadAllText("/proc/loadavg").Trim();
    }
    catch (IOException)
    {
        return "unknown";
    }
}
