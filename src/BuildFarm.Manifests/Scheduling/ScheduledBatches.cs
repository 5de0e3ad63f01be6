using System.Globalization;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Planning;

namespace BuildFarm.Manifests.Scheduling;

/// <summary>The batch one occurrence of a schedule submits (pure, deterministic per occurrence).</summary>
public static class ScheduledBatches
{
    /// <summary>Requested-by of scheduled batches.</summary>
    public const string RequestedBy = "scheduler";

    /// <summary><c>sched-&lt;image&gt;-&lt;yyyyMMddHHmm&gt;</c>: the same occurrence always makes the same batch and build ids,
    /// so a batch published twice (a claimant died after publishing) is expanded once downstream.</summary>
    public static string BatchId(string image, DateTimeOffset occurrence) =>
        $"sched-{image}-{occurrence.UtcDateTime.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture)}";

    /// <summary>The revision when none is configured: <c>s&lt;yyMMddHHmm&gt;</c> of the occurrence (12 characters at most,
    /// so that <c>{short_sha}</c> is all of it).</summary>
    public static string DefaultSha(DateTimeOffset occurrence) =>
        "s" + occurrence.UtcDateTime.ToString("yyMMddHHmm", CultureInfo.InvariantCulture);

    /// <summary>The scheduled image plus every image built on it, transitively (a rebuilt base rebuilds its dependents).</summary>
    /// <exception cref="ManifestException">An expanded spec does not validate with this revision.</exception>
    public static SubmitBatch Plan(Manifest manifest, string image, DateTimeOffset occurrence, string? sha = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var scheduled = manifest[image];
        return ManifestPlanner.Plan(manifest, new ManifestPlanRequest
        {
            BatchId = BatchId(image, occurrence),
            Sha = string.IsNullOrEmpty(sha) ? DefaultSha(occurrence) : sha,
            SubmittedAt = occurrence,
            Selection = ManifestSelection.WithDependents([image]),
            Source = $"{manifest.Source}: schedule of '{image}' ({scheduled.Schedule}) at {occurrence.UtcDateTime:yyyy-MM-ddTHH:mm}Z",
            RequestedBy = RequestedBy,
        });
    }
}
