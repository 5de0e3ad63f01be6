using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Kaniko.Specs;
using k8s.Models;

namespace BuildFarm.Worker.Builds;

// BuildRunner's memory learned from history (docs/scheduling.md "Memory learned from history"): the figure read with the
// build's first round trip, the OOM retry with twice the memory, and the figure written after it.
public sealed partial class BuildRunner
{
    /// <summary>
    /// The key of the build's learned memory: its first destination's repository without tag or digest
    /// (<c>registry.example.com/team/app</c>); null when it does not parse or is longer than
    /// <see cref="LearnedMemory.MaxRepositoryLength"/> (nothing is learned for it).
    /// </summary>
    internal static string? MemoryKey(BuildImage command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return command.Spec.Destinations is [var first, ..] && ImageReference.TryParse(first.Trim(), out var reference)
            && reference.Name.Length <= LearnedMemory.MaxRepositoryLength
            ? reference.Name
            : null;
    }

    /// <summary>The memory limit of <paramref name="pod"/>'s Kaniko container as the pod says it, or null.</summary>
    internal static string? MemoryLimitOf(V1Pod? pod) =>
        pod?.Spec?.Containers?.FirstOrDefault(c => c.Name == KanikoPodFactory.ContainerName)?.Resources?.Limits is { } limits
        && limits.TryGetValue("memory", out var limit) ? limit.ToString() : null;

    /// <summary>The figure learned for the build's image (no Redis command when OOM retries are off).</summary>
    private Task<LearnedMemory?> FindLearnedMemoryAsync(RunState state, CancellationToken ct) =>
        _options.OomRetry && MemoryKey(state.Command) is { } key ? memoryHistory.FindAsync(key, ct) : Task.FromResult<LearnedMemory?>(null);

    /// <summary>The pod's own memory: the spec's figures, else the farm's defaults; null without a memory limit.</summary>
    private PodMemory? OwnMemory(BuildImage command) => PodMemory.Of(command.Spec.Resources, _kaniko.DefaultResources);

    /// <summary>Every lane starts from the learned figure when it is above the build's own (at most Worker:OomMemoryCap).</summary>
    private void StartFromLearnedMemory(RunState state, LearnedMemory? learned)
    {
        if (learned is null
            || PodMemory.Starting(OwnMemory(state.Command), new PodMemory(learned.LimitBytes, learned.RequestBytes), _options.OomMemoryCapBytes) is not { } start)
        {
            return;
        }
        foreach (var lane in state.Lanes)
        {
            lane.Memory = start;
        }
        logger.LogInformation("build {Build}: starting with the memory limit {Limit} learned for {Image}", state.Command.BuildId, start.Limit, MemoryKey(state.Command));
    }

    /// <summary>
    /// The decision after an attempt, with the OOM retry applied (<see cref="OomRetry"/>): when the attempt was
    /// OOM-killed and is retried with more memory, the lane's next pods get it and the figure is recorded for the image's
    /// next builds (the only write; a build that never OOMed writes nothing).
    /// </summary>
    private async Task<AttemptDecision> AfterOomAsync(RunState state, AttemptLane lane, AttemptDecision decision, CancellationToken ct)
    {
        if (decision.Verdict == AttemptVerdict.Succeed)
        {
            if (lane.RaisedFrom is not null)
            {
                metrics.RecordOomRetry("succeeded");
            }
            return decision;
        }
        var memory = lane.Memory ?? OwnMemory(state.Command);
        var oom = OomRetry.After(decision, memory, lane.RaisedFrom, lane.Attempt, _options, Random.Shared.NextDouble());
        if (oom.Outcome is { } outcome)
        {
            metrics.RecordOomRetry(outcome);
        }
        if (oom.Raised is { } raised)
        {
            lane.RaisedFrom = memory;
            lane.Memory = raised;
            if (MemoryKey(state.Command) is { } key)
            {
                await memoryHistory.RecordAsync(key, new LearnedMemory(raised.LimitBytes, raised.RequestBytes), _options.MemoryHistoryTtl, ct).ConfigureAwait(false);
            }
        }
        return oom.Decision;
    }
}
