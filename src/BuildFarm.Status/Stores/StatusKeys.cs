namespace BuildFarm.Status.Stores;

/// <summary>The status store's Redis keys and channels under one prefix.</summary>
internal sealed class StatusKeys(string prefix)
{
    public string Prefix { get; } = string.IsNullOrEmpty(prefix) ? throw new ArgumentException("a key prefix is required", nameof(prefix)) : prefix;

    public string Build(string buildId) => $"{Prefix}build:{buildId}";
    public string Batch(string batchId) => $"{Prefix}batch:{batchId}";
    public string IndexAll => $"{Prefix}index:all";
    public string IndexState(BuildState state) => $"{Prefix}index:state:{state.ToWire()}";
    public string IndexBatch(string batchId) => $"{Prefix}index:batch:{batchId}";

    /// <summary>A tenant's builds; without a tenant, every build (<see cref="IndexAll"/>).</summary>
    public string IndexTenant(string? tenant) => tenant is null ? IndexAll : $"{Prefix}index:tenant:{tenant}";

    /// <summary>A tenant's builds in one state; without a tenant, every build in that state (<see cref="IndexState"/>).</summary>
    public string IndexTenantState(string? tenant, BuildState state) =>
        tenant is null ? IndexState(state) : $"{Prefix}index:tenant:{tenant}:state:{state.ToWire()}";
    public string BuildChannel(string buildId) => $"{Prefix}changes:build:{buildId}";
    public string BatchChannel(string batchId) => $"{Prefix}changes:batch:{batchId}";
}
