namespace BuildFarm.Coordination.Adaptive;

/// <summary>How a registry's slot limit adapts (docs/scheduling.md "Adaptive registry concurrency").</summary>
public sealed record AdaptiveLimitSettings
{
    /// <summary>The limit never goes below this many concurrent builds per registry.</summary>
    public required int Floor { get; init; }

    /// <summary>The configured maximum (<c>Worker:RegistrySlotLimit</c>): where a registry starts and what it grows back to.</summary>
    public required int Max { get; init; }

    /// <summary>On congestion when every recent report was congested, the limit is multiplied by this (0 &lt; factor &lt; 1);
    /// when only a share <c>a</c> of them was (<see cref="AdaptiveLimitState.Congestion"/>), by 1 − (1 − factor) × a.</summary>
    public double DecreaseFactor { get; init; } = 0.7;

    /// <summary>The weight of each report in the running congested share (0 &lt; weight ≤ 1): the share moves by
    /// this fraction of the way towards each report (1 for congested, 0 for clean). 1 keeps only the last window's
    /// share, so every congestion multiplies by the full factor (plain AIMD).</summary>
    public double CongestionWeight { get; init; } = 1.0 / 16;

    /// <summary>After a decrease, further congestion reports do not decrease again for this long: the builds that
    /// started under the old limit are still finishing and still report the congestion they met.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>What is wrong with these settings, or an empty list.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Floor < 1)
        {
            errors.Add($"floor must be at least 1 (got {Floor})");
        }
        if (Max < Floor)
        {
            errors.Add($"max ({Max}) must be at least the floor ({Floor})");
        }
        if (!(DecreaseFactor > 0 && DecreaseFactor < 1))
        {
            errors.Add($"decrease factor must be between 0 and 1, exclusive (got {DecreaseFactor})");
        }
        if (!(CongestionWeight > 0 && CongestionWeight <= 1))
        {
            errors.Add($"congestion weight must be above 0 and at most 1 (got {CongestionWeight})");
        }
        if (Cooldown < TimeSpan.Zero)
        {
            errors.Add($"cooldown must not be negative (got {Cooldown})");
        }
        return errors;
    }
}

/// <summary>A registry's adaptive limit: <see cref="Limit"/> (fractional: additive increase adds 1/limit per clean
/// build), when it last decreased (null: never) and <see cref="Congestion"/>, the running share of congested reports
/// (0 to 1; 1 while nothing is known, so the first congestion decreases by the full factor).</summary>
public readonly record struct AdaptiveLimitState(double Limit, DateTimeOffset? LastDecrease, double Congestion = 1)
{
    /// <summary>The number of slots this state grants: the limit rounded down, never below one.</summary>
    public int Slots => Math.Max(1, (int)Math.Floor(Limit + 1e-9));
}

/// <summary>
/// Additive increase, multiplicative decrease (the TCP congestion-avoidance rule) over builds instead of packets, with
/// the decrease in proportion to how much of the traffic met congestion (as DCTCP does with ECN marks). Pure.
/// A window of reports for one registry is <c>clean</c> builds (they transferred without a reset, a 429 or a 5xx) and
/// <c>congested</c> ones. Every report moves the running congested share <c>a</c> by
/// <see cref="AdaptiveLimitSettings.CongestionWeight"/> towards 1 (congested) or 0 (clean). Any congestion in a window
/// then multiplies the limit once by 1 − (1 − <see cref="AdaptiveLimitSettings.DecreaseFactor"/>) × a (unless within
/// the cooldown of the last decrease): a registry just over its capacity, where few builds meet a reset, gives up a
/// little; one that resets most builds, up to the full factor. A window without congestion adds 1/limit per clean
/// build, so the limit grows by about one per limit's worth of clean builds. The limit stays between
/// <see cref="AdaptiveLimitSettings.Floor"/> and <see cref="AdaptiveLimitSettings.Max"/>.
/// </summary>
public static class AdaptiveLimit
{
    /// <summary>The state of a registry nothing is known about: the configured maximum.</summary>
    public static AdaptiveLimitState Initial(AdaptiveLimitSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new AdaptiveLimitState(settings.Max, null);
    }

    /// <summary>The state after a window of <paramref name="clean"/> and <paramref name="congested"/> reports ending at <paramref name="now"/>.</summary>
    public static AdaptiveLimitState Next(AdaptiveLimitState state, int clean, int congested, DateTimeOffset now, AdaptiveLimitSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegative(clean);
        ArgumentOutOfRangeException.ThrowIfNegative(congested);
        // A stored value out of range (settings changed since it was written, or a bad value) is brought back in range first.
        var limit = double.IsFinite(state.Limit) ? Math.Clamp(state.Limit, settings.Floor, settings.Max) : settings.Max;
        var share = Share(state.Congestion, clean, congested, settings.CongestionWeight);
        if (congested > 0)
        {
            var cooling = state.LastDecrease is { } last && now - last < settings.Cooldown && now >= last;
            if (cooling)
            {
                return new AdaptiveLimitState(limit, state.LastDecrease, share);
            }
            var factor = 1 - ((1 - settings.DecreaseFactor) * share);
            return new AdaptiveLimitState(Math.Max(settings.Floor, limit * factor), now, share);
        }
        for (var i = 0; i < clean && limit < settings.Max; i++)
        {
            limit = Math.Min(settings.Max, limit + (1 / limit));
        }
        return new AdaptiveLimitState(limit, state.LastDecrease, share);
    }

    /// <summary>The running congested share after a window: <paramref name="clean"/> + <paramref name="congested"/>
    /// reports each moving it by <paramref name="weight"/> towards 0 or 1. Their order within the window is not known,
    /// so the window counts as that many reports of its mean share.</summary>
    private static double Share(double previous, int clean, int congested, double weight)
    {
        var share = double.IsFinite(previous) ? Math.Clamp(previous, 0, 1) : 1;
        var reports = (double)clean + congested;
        if (reports == 0)
        {
            return share;
        }
        var kept = Math.Pow(1 - weight, reports);
        return (kept * share) + ((1 - kept) * (congested / reports));
    }
}
