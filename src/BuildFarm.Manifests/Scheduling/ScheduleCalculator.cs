using BuildFarm.Manifests.Model;
using Cronos;

namespace BuildFarm.Manifests.Scheduling;

/// <summary>What to do with occurrences the scheduler did not see on time (it was down, or no instance led).</summary>
public enum MissedSchedulePolicy
{
    /// <summary>Occurrences older than the late tolerance are dropped; the schedule goes on with the next one.</summary>
    Skip,

    /// <summary>Every missed occurrence is coalesced into one run, for the latest of them.</summary>
    RunOnce,
}

/// <summary>One occurrence of an image's schedule.</summary>
public sealed record DueOccurrence(string Image, DateTimeOffset Occurrence);

/// <summary>The outcome of <see cref="ScheduleCalculator.Decide"/>.</summary>
/// <param name="Fire">The occurrence to run now, or null.</param>
/// <param name="Advance">What to record as the last handled occurrence, or null when nothing was due.</param>
/// <param name="Missed">Occurrences not run on their own: skipped, or coalesced into <paramref name="Fire"/>.</param>
public sealed record ScheduleDecision(DateTimeOffset? Fire, DateTimeOffset? Advance, int Missed)
{
    public static ScheduleDecision Nothing { get; } = new(null, null, 0);
}

/// <summary>
/// Cron arithmetic for manifest schedules (pure). Every expression is evaluated in UTC, so there is no daylight
/// saving time: each occurrence exists exactly once.
/// </summary>
public static class ScheduleCalculator
{
    /// <summary>The occurrences in (<paramref name="fromExclusive"/>, <paramref name="toInclusive"/>], oldest first.</summary>
    public static IEnumerable<DateTimeOffset> Occurrences(CronExpression cron, DateTimeOffset fromExclusive, DateTimeOffset toInclusive)
    {
        ArgumentNullException.ThrowIfNull(cron);
        if (toInclusive <= fromExclusive)
        {
            return [];
        }
        return cron.GetOccurrences(fromExclusive.ToUniversalTime(), toInclusive.ToUniversalTime(), TimeZoneInfo.Utc, fromInclusive: false, toInclusive: true);
    }

    /// <summary>The first occurrence after <paramref name="after"/>, or null when the expression never fires again.</summary>
    public static DateTimeOffset? Next(CronExpression cron, DateTimeOffset after)
    {
        ArgumentNullException.ThrowIfNull(cron);
        return cron.GetNextOccurrence(after.ToUniversalTime(), TimeZoneInfo.Utc, inclusive: false);
    }

    /// <summary>Every scheduled image's occurrences in (<paramref name="fromExclusive"/>, <paramref name="toInclusive"/>], by time then manifest order.</summary>
    public static IReadOnlyList<DueOccurrence> Due(Manifest manifest, DateTimeOffset fromExclusive, DateTimeOffset toInclusive)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return [.. manifest.Scheduled
            .SelectMany(image => Occurrences(image.ScheduleExpression!, fromExclusive, toInclusive).Select(o => new DueOccurrence(image.Name, o)))
            .OrderBy(o => o.Occurrence)];
    }

    /// <summary>
    /// Decides what one schedule does at <paramref name="now"/>, given the last occurrence it handled. The latest due
    /// occurrence runs when it is at most <paramref name="lateTolerance"/> old; older ones (the scheduler was down)
    /// follow <paramref name="policy"/>. Either way at most one run comes out, and earlier due occurrences are coalesced.
    /// </summary>
    public static ScheduleDecision Decide(CronExpression cron, DateTimeOffset lastHandled, DateTimeOffset now, MissedSchedulePolicy policy, TimeSpan lateTolerance)
    {
        ArgumentNullException.ThrowIfNull(cron);
        DateTimeOffset? latest = null;
        var count = 0;
        foreach (var occurrence in Occurrences(cron, lastHandled, now))
        {
            latest = occurrence;
            count++;
        }
        if (latest is not { } last)
        {
            return ScheduleDecision.Nothing;
        }
        var onTime = now - last <= lateTolerance;
        return onTime || policy == MissedSchedulePolicy.RunOnce
            ? new ScheduleDecision(last, last, count - 1)
            : new ScheduleDecision(null, last, count);
    }
}
