namespace BuildFarm.Status;

/// <summary>
/// Idempotency keys of the API's submits: the first value stored under a key wins for its time to live. Kept apart from the
/// build records (<see cref="IBuildStatusStore"/>): Redis in deployments (the same connection and key prefix as the status
/// store, keys <c>P idem:SCOPE:KEY</c>), in process for <c>buildfarm demo</c> and unit tests.
/// </summary>
public interface IIdempotencyStore
{
    /// <summary>
    /// Stores <paramref name="value"/> under an idempotency key unless one is there; returns the stored value
    /// (the earlier one when the key was used before).
    /// </summary>
    Task<string> GetOrSetIdempotencyAsync(string scope, string key, string value, TimeSpan ttl, CancellationToken cancellationToken);
}
