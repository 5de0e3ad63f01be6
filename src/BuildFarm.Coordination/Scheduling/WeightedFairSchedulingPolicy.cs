namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// The <c>Scheduling:FairShare</c> configuration section: the weight of each tenant in the weighted fair share
/// (docs/scheduling.md). A tenant not named has <see cref="DefaultWeight"/>.
/// </summary>
public sealed class FairShareOptions
{
    public const string SectionName = "Scheduling:FairShare";

    /// <summary>Tenants that may be named.</summary>
    public const int MaxTenants = 10_000;

    /// <summary>The longest tenant name.</summary>
    public const int MaxTenantLength = 256;

    /// <summary>The largest weight (the smallest is anything above 0).</summary>
    public const double MaxWeight = 1_000_000;

    /// <summary>The weight of a tenant not in <see cref="TenantWeights"/>.</summary>
    public double DefaultWeight { get; set; } = 1;

    /// <summary>Weights by tenant name (ordinal): a tenant of weight 2 gets twice the slots of one of weight 1 when both wait.</summary>
    public Dictionary<string, double> TenantWeights { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The weight of <paramref name="tenant"/>.</summary>
    public double WeightOf(string tenant) => TenantWeights.TryGetValue(tenant, out var weight) ? weight : DefaultWeight;

    /// <summary>Every problem, each naming its setting; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!IsWeight(DefaultWeight))
        {
            errors.Add($"{SectionName}:DefaultWeight: must be above 0 and at most {MaxWeight}, was {DefaultWeight}");
        }
        if (TenantWeights is null)
        {
            errors.Add($"{SectionName}:TenantWeights: must be a map of tenant name to weight");
            return errors;
        }
        if (TenantWeights.Count > MaxTenants)
        {
            errors.Add($"{SectionName}:TenantWeights: at most {MaxTenants} tenants, was {TenantWeights.Count}");
        }
        foreach (var (tenant, weight) in TenantWeights.Take(MaxTenants))
        {
            if (tenant.Length > MaxTenantLength || tenant.Any(char.IsControl))
            {
                errors.Add($"{SectionName}:TenantWeights: a tenant name has at most {MaxTenantLength} characters and no control characters");
            }
            else if (!IsWeight(weight))
            {
                errors.Add($"{SectionName}:TenantWeights:{tenant}: must be above 0 and at most {MaxWeight}, was {weight}");
            }
        }
        return errors;
    }

    private static bool IsWeight(double weight) => double.IsFinite(weight) && weight > 0 && weight <= MaxWeight;
}

/// <summary>
/// Weighted fair share between tenants, priority within a tenant, fair share between a tenant's batches, critical path
/// first (docs/scheduling.md, "The scheduling contract"). Each slot in turn goes to the tenant with the lowest
/// (running + already chosen) ÷ weight among those with ready builds (ties: the tenant whose next build is better by
/// <see cref="SchedulingOrder.WithinGroup"/>, then the tenant's name, ordinal). Within that tenant the next build is
/// the head of one of its groups (so a group's own order is kept): the highest priority, then the group with the
/// fewest running (counting those already chosen), then the longer remaining path, then the earlier ready.
/// Pure and O((n + slots) log n) for n ready builds.
/// </summary>
public sealed class WeightedFairSchedulingPolicy : ISchedulingPolicy
{
    private readonly FairShareOptions _options;

    public WeightedFairSchedulingPolicy(FairShareOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }
        _options = options;
    }

    public IReadOnlyList<ReadyBuild> Choose(SchedulingSnapshot snapshot, int slots)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (slots <= 0 || snapshot.Ready.Count == 0)
        {
            return [];
        }
        var tenants = new Dictionary<string, TenantQueue>(StringComparer.Ordinal);
        var groups = new Dictionary<string, GroupQueue>(StringComparer.Ordinal);
        foreach (var build in snapshot.Ready)
        {
            var key = SchedulingOrder.GroupKey(build.Tenant, build.Group);
            if (!groups.TryGetValue(key, out var group))
            {
                group = new GroupQueue(snapshot.RunningByGroup.GetValueOrDefault(key));
                groups.Add(key, group);
                if (!tenants.TryGetValue(build.Tenant, out var tenant))
                {
                    tenant = new TenantQueue(build.Tenant, snapshot.RunningByTenant.GetValueOrDefault(build.Tenant), _options.WeightOf(build.Tenant));
                    tenants.Add(build.Tenant, tenant);
                }
                tenant.Groups.Add(group);
            }
            group.Builds.Add(build);
        }
        var byShare = new PriorityQueue<TenantQueue, TenantQueue>(tenants.Count, TenantOrder);
        foreach (var tenant in tenants.Values)
        {
            foreach (var group in tenant.Groups)
            {
                group.Builds.Sort(SchedulingOrder.WithinGroup);
                tenant.Heads.Enqueue(group, group);
            }
            byShare.Enqueue(tenant, tenant);
        }
        var chosen = new List<ReadyBuild>(Math.Min(slots, snapshot.Ready.Count));
        while (chosen.Count < slots && byShare.TryDequeue(out var tenant, out _))
        {
            var group = tenant.Heads.Dequeue();
            chosen.Add(group.Head);
            group.Next++;
            group.Running++;
            tenant.Running++;
            if (group.Next < group.Builds.Count)
            {
                tenant.Heads.Enqueue(group, group);
            }
            if (tenant.Heads.Count > 0)
            {
                byShare.Enqueue(tenant, tenant);
            }
        }
        return chosen;
    }

    /// <summary>A tenant's groups by their heads: priority, then fewest running, then path, then FIFO.</summary>
    private static readonly IComparer<GroupQueue> HeadOrder = Comparer<GroupQueue>.Create((a, b) =>
    {
        var (x, y) = (a.Head, b.Head);
        var c = y.Priority.CompareTo(x.Priority);
        if (c == 0)
        {
            c = a.Running.CompareTo(b.Running);
        }
        if (c == 0)
        {
            c = y.PathSeconds.CompareTo(x.PathSeconds);
        }
        return c != 0 ? c : x.Sequence.CompareTo(y.Sequence);
    });

    private static readonly IComparer<TenantQueue> TenantOrder = Comparer<TenantQueue>.Create((a, b) =>
    {
        var c = (a.Running / a.Weight).CompareTo(b.Running / b.Weight);
        if (c == 0)
        {
            c = SchedulingOrder.WithinGroup.Compare(a.Heads.Peek().Head, b.Heads.Peek().Head);
        }
        return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
    });

    private sealed class GroupQueue(int running)
    {
        public List<ReadyBuild> Builds { get; } = [];
        public int Next { get; set; }
        public int Running { get; set; } = running;
        public ReadyBuild Head => Builds[Next];
    }

    private sealed class TenantQueue(string name, int running, double weight)
    {
        public string Name { get; } = name;
        public int Running { get; set; } = running;
        public double Weight { get; } = weight;
        public List<GroupQueue> Groups { get; } = [];
        public PriorityQueue<GroupQueue, GroupQueue> Heads { get; } = new(HeadOrder);
    }
}
