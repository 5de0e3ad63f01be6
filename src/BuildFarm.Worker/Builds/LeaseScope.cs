using BuildFarm.Coordination;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Resilience;
using BuildFarm.Worker.Scheduling;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;

namespace BuildFarm.Worker.Builds;

/// <summary>Opens the <see cref="LeaseScope"/> of each build.</summary>
public sealed class LeaseScopes(
    IBuildDedupe dedupe,
    IDestinationLocks locks,
    IRegistrySlots slots,
    RegistryLimitFeedback limits,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<WorkerOptions> options,
    TimeProvider time,
    ILogger<LeaseScope> logger)
{
    /// <summary>A scope holding nothing yet, for the build <paramref name="buildId"/> whose dedupe claim is <paramref name="buildKey"/>.</summary>
    public LeaseScope Open(string buildId, string buildKey) =>
        new(dedupe, locks, slots, limits, pipelines.GetPipeline(WorkerPipelines.Poll), options.Value, time, logger, buildId, buildKey);
}

/// <summary>
/// A build's leases from acquisition to release: its destination locks and registry slots (waited for through the
/// <see cref="WorkerPipelines.Poll"/> pipeline), renewed together with the dedupe claim every
/// <c>Worker:LeaseRenewInterval</c>, the destination locks released as the fencing check before success is published,
/// and everything still held released on dispose, unless <see cref="KeepForRedelivery"/> (a shutdown: the redelivered
/// message takes its re-entrant leases back).
/// </summary>
public sealed class LeaseScope : IAsyncDisposable
{
    private readonly IBuildDedupe _dedupe;
    private readonly IDestinationLocks _locks;
    private readonly IRegistrySlots _slots;
    private readonly RegistryLimitFeedback _limits;
    private readonly ResiliencePipeline _poll;
    private readonly WorkerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _buildId;
    private readonly string _buildKey;
    private readonly List<Lease> _heldLocks = [];
    private readonly List<Lease> _heldSlots = [];
    private CancellationTokenSource? _renewStop;
    private Task? _renewal;
    private bool _keep;

    internal LeaseScope(IBuildDedupe dedupe, IDestinationLocks locks, IRegistrySlots slots, RegistryLimitFeedback limits, ResiliencePipeline poll, WorkerOptions options,
        TimeProvider time, ILogger logger, string buildId, string buildKey)
    {
        _dedupe = dedupe;
        _locks = locks;
        _slots = slots;
        _limits = limits;
        _poll = poll;
        _options = options;
        _time = time;
        _logger = logger;
        _buildId = buildId;
        _buildKey = buildKey;
    }

    /// <summary>Waits for each destination's lock, then each registry's slot (both lists sorted: no deadlock between
    /// builds), then starts renewing them and the dedupe claim.</summary>
    public async Task AcquireAsync(IReadOnlyList<string> destinations, IReadOnlyList<string> registries, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(destinations);
        ArgumentNullException.ThrowIfNull(registries);
        foreach (var destination in destinations)
        {
            var lease = await WaitForAsync(token => _locks.TryAcquireAsync(destination, _buildId, _options.LeaseTtl, token), ct).ConfigureAwait(false);
            lock (_heldLocks)
            {
                _heldLocks.Add(lease);
            }
        }
        foreach (var registry in registries)
        {
            var slot = await WaitForAsync(token => _slots.TryAcquireAsync(registry, _buildId, _limits.Current(registry), _options.LeaseTtl, token), ct)
                .ConfigureAwait(false);
            lock (_heldSlots)
            {
                _heldSlots.Add(slot);
            }
        }
        _renewStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _renewal = RenewAsync(_renewStop.Token);
    }

    /// <summary>
    /// The fencing check: releases the destination locks, throwing <see cref="LeaseLostException"/> when one was no longer
    /// this build's (the push is over, and one round trip does both). The push being over, the registry slots go back in
    /// the same round trip as the first lock's check (whatever its answer). What is released here is not released again on dispose.
    /// </summary>
    public async Task FenceAsync(CancellationToken ct)
    {
        var slots = ReleaseSlotsAsync();
        try
        {
            while (TakeLastLock() is { } lease)
            {
                if (!await _locks.ReleaseAsync(lease, ct).ConfigureAwait(false))
                {
                    throw new LeaseLostException($"build {_buildId}: the lock on {lease.Resource} was lost before success was published");
                }
            }
        }
        finally
        {
            await slots.ConfigureAwait(false);
        }
    }

    /// <summary>Leaves the leases held on dispose (they expire with their TTL, or the redelivered build takes them back).</summary>
    public void KeepForRedelivery() => _keep = true;

    /// <summary>Stops the renewal and releases what is still held (all at once: the Redis client pipelines them).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_renewStop is not null)
        {
            await _renewStop.CancelAsync().ConfigureAwait(false);
            await _renewal!.ConfigureAwait(false);
            _renewStop.Dispose();
            _renewStop = null;
        }
        if (_keep)
        {
            return;
        }
        Lease[] locks;
        lock (_heldLocks)
        {
            locks = [.. _heldLocks];
            _heldLocks.Clear();
        }
        await Task.WhenAll(locks.Select(lease => ReleaseAsync(lease, _locks.ReleaseAsync)).Append(ReleaseSlotsAsync())).ConfigureAwait(false);
    }

    /// <summary>Releases the registry slots still held (each failure logged: the slot then expires with its lease).</summary>
    private Task ReleaseSlotsAsync()
    {
        Lease[] slots;
        lock (_heldSlots)
        {
            slots = [.. _heldSlots];
            _heldSlots.Clear();
        }
        return slots.Length == 0 ? Task.CompletedTask : Task.WhenAll(slots.Select(lease => ReleaseAsync(lease, _slots.ReleaseAsync)));
    }

    private Task<Lease> WaitForAsync(Func<CancellationToken, Task<Lease?>> tryAcquire, CancellationToken ct) =>
        _poll.UntilAsync(async token => await tryAcquire(token).ConfigureAwait(false) is { } lease
            ? Polled<Lease>.Finished(lease)
            : Polled<Lease>.NotYet(null!), ct);

    private async Task RenewAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.LeaseRenewInterval, _time, ct).ConfigureAwait(false);
                if (!await _dedupe.RenewAsync(_buildKey, _buildId, _options.LeaseTtl, ct).ConfigureAwait(false))
                {
                    _logger.LogWarning("build {Build}: dedupe claim lost", _buildId);
                }
                // The fencing check releases the locks while this loop may run: it works on a copy, and a lock released
                // meanwhile is not reported as lost.
                Lease[] current;
                lock (_heldLocks)
                {
                    current = [.. _heldLocks];
                }
                foreach (var lease in current)
                {
                    if (!await _locks.RenewAsync(lease, _options.LeaseTtl, ct).ConfigureAwait(false) && Holds(_heldLocks, lease))
                    {
                        _logger.LogWarning("build {Build}: lock on {Resource} lost", _buildId, lease.Resource);
                    }
                }
                Lease[] slots;
                lock (_heldSlots)
                {
                    slots = [.. _heldSlots];
                }
                foreach (var lease in slots)
                {
                    if (!await _slots.RenewAsync(lease, _options.LeaseTtl, ct).ConfigureAwait(false) && Holds(_heldSlots, lease))
                    {
                        _logger.LogWarning("build {Build}: registry slot on {Resource} lost", _buildId, lease.Resource);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The build ended.
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A renewal error (Redis down) must not crash the build, and renewal goes on (Redis may return before the
                // leases expire). Success is only published after the fencing check, which fails if a lock was lost.
                _logger.LogWarning("build {Build}: lease renewal failed: {Error}", _buildId, e.Message);
            }
        }
    }

    private async Task ReleaseAsync(Lease lease, Func<Lease, CancellationToken, Task> release)
    {
        try
        {
            await release(lease, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning(e, "could not release {Resource}; it expires with its lease", lease.Resource);
        }
    }

    private Lease? TakeLastLock()
    {
        lock (_heldLocks)
        {
            if (_heldLocks.Count == 0)
            {
                return null;
            }
            var last = _heldLocks[^1];
            _heldLocks.RemoveAt(_heldLocks.Count - 1);
            return last;
        }
    }

    private static bool Holds(List<Lease> held, Lease lease)
    {
        lock (held)
        {
            return held.Contains(lease);
        }
    }
}
