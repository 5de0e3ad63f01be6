using BuildFarm.Worker.Options;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace BuildFarm.Worker.Hosting;

/// <summary>
/// Whether this worker may start builds: closed while Redis (when configured) does not answer a PING, so the worker never
/// builds without dedupe, locks and slots. The build consumer waits at the gate before each run: with prefetch equal to
/// the worker's slots, the slots fill up with waiting messages and the broker delivers nothing more until Redis returns.
/// Readiness (<c>/readyz</c>) reports the gate. Without Redis (in-process coordination) it is always open.
/// </summary>
public sealed class CoordinationGate : BackgroundService
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(2);

    private readonly IServiceProvider _services;
    private readonly bool _useRedis;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger<CoordinationGate> _logger;
    private readonly Lock _lock = new();
    private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _closings;

    public CoordinationGate(IServiceProvider services, IOptions<RedisOptions> redis, IOptions<WorkerOptions> worker, TimeProvider time,
        ILogger<CoordinationGate> logger)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(worker);
        _services = services;
        _useRedis = redis.Value.UseRedis;
        _interval = worker.Value.RedisProbeInterval;
        _time = time;
        _logger = logger;
        LastError = _useRedis ? "redis not probed yet" : null;
        if (!_useRedis)
        {
            _open.TrySetResult();
        }
    }

    public bool IsOpen => _open.Task.IsCompleted;

    /// <summary>Why the gate is closed (the last probe's error); null while open.</summary>
    public string? LastError { get; private set; }

    /// <summary>How many times the gate closed after being open (for tests and logs).</summary>
    public int Closings => Volatile.Read(ref _closings);

    /// <summary>Completes when the gate is open (at once when it is).</summary>
    public Task WaitOpenAsync(CancellationToken cancellationToken)
    {
        Task open;
        lock (_lock)
        {
            open = _open.Task;
        }
        return open.WaitAsync(cancellationToken);
    }

    /// <summary>A build met a Redis error: close at once; the next successful probe opens again.</summary>
    public void ReportUnavailable(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (_useRedis)
        {
            Close(error.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_useRedis)
        {
            return;
        }
        var redis = _services.GetRequiredService<IConnectionMultiplexer>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await redis.GetDatabase().PingAsync().WaitAsync(PingTimeout, _time, stoppingToken).ConfigureAwait(false);
                Open();
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                Close(e.Message);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            try
            {
                await Task.Delay(_interval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private void Open()
    {
        lock (_lock)
        {
            if (_open.TrySetResult())
            {
                _logger.LogInformation("redis answers again: taking builds");
            }
            LastError = null;
        }
    }

    private void Close(string error)
    {
        lock (_lock)
        {
            LastError = "redis unreachable: " + error;
            if (_open.Task.IsCompleted)
            {
                _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Interlocked.Increment(ref _closings);
                _logger.LogWarning("redis unreachable ({Error}): taking no builds until it answers", error);
            }
        }
    }
}
