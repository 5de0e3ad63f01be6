using BuildFarm.Status;

namespace BuildFarm.Api.Hosting;

/// <summary>Builds the <see cref="BatchStatus"/> of <c>GET /v1/batches/{id}</c> from the batch and its builds' records.</summary>
public static class BatchView
{
    public static BatchStatus Create(BatchRecord batch, IReadOnlyList<BuildRecord> builds)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(builds);
        var byId = builds.ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        var images = batch.Members.Select(m => byId.TryGetValue(m.BuildId, out var b)
            ? new BatchImageStatus
            {
                Name = m.Name,
                BuildId = m.BuildId,
                State = b.State,
                Attempt = b.Attempts.Count,
                Digest = b.Digest,
                Reason = b.Reason,
                StartedAt = b.StartedAt,
                EndedAt = b.EndedAt,
            }
            : new BatchImageStatus { Name = m.Name, BuildId = m.BuildId, State = BuildState.Waiting }).ToList();
        var counts = Enum.GetValues<BuildState>().ToDictionary(s => s.ToWire(), s => images.Count(i => i.State == s), StringComparer.Ordinal);
        return new BatchStatus
        {
            BatchId = batch.BatchId,
            Source = batch.Source,
            RequestedBy = batch.RequestedBy,
            Tenant = batch.Tenant,
            SubmittedAt = batch.SubmittedAt,
            Total = images.Count,
            Counts = counts,
            Done = images.All(i => i.State.IsFinal()),
            Succeeded = images.All(i => i.State == BuildState.Succeeded),
            Images = images,
        };
    }
}
