namespace BuildFarm.Coordination.Adaptive;

/// <summary>How a registry's slot limit adapts (docs/scheduling.md "Adaptive registry concurrency").</summary>
public sealed record AdaptiveLimitSettings
{
    /// <summary>The limit never goes below this many concurrent builds per registry.</summary>
    public required int Floor { get; init; }

    /// <summary>The configured maximum (<c>Worker:RegistrySlotLimit</c>): where a registry starts and what it grows back to.</summary>
    public required int Max { get; init; }

    /// <summary>On congestion the limit is multiplied by this (0 &lt; factor &lt; 1).</summary>
    public double DecreaseFactor { get; init; } = 0.8;

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
        if (Cooldown < TimeSpan.Zero)
        {
            errors.Add($"cooldown must not be negative (got {Cooldown})");
        }
        return errors;
    }
}

/// <summary>A registry's adaptive limit: <see cref="Limit"/> (fractional: additive increase adds 1/limit per clean
/// build) and when it last decreased (null: never).</summary>
public readonly record struct AdaptiveLimitState(double Limit, DateTimeOffset? LastDecrease)
{
    /// <summary>The number of slots this state grants: the limit rounded down, never below one.</summary>
    public int Slots => Math.Max(1, (int)Math.Floor(Limit + 1e-9));
}

/// <summary>
/// Additive increase, multiplicative decrease (the TCP congestion-avoidance rule) over builds instead of packets. Pure.
/// A window of reports for one registry is <c>clean</c> builds (they transferred without a reset, a 429 or a 5xx) and
/// <c>congested</c> ones: any congestion decreases the limit once (unless within the cooldown of the last decrease);
/// otherwise each clean build adds 1/limit, so the limit grows by about one per limit's worth of clean builds.
/// The limit stays between <see cref="AdaptiveLimitSettings.Floor"/> and <see cref="AdaptiveLimitSettings.Max"/>.
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
        if (congested > 0)
        {
            var cooling = state.LastDecrease is { } last && now - last < settings.Cooldown && now >= last;
            if (cooling)
            {
                return new AdaptiveLimitState(limit, state.LastDecrease);
            }
            return new AdaptiveLimitState(Math.Max(settings.Floor, limit * settings.DecreaseFactor), now);
        }
        for (var i = 0; i < clean && limit < settings.Max; i++)
        {
            limit = Math.Min(settings.Max, limit + (1 / limit));
        }
        return new AdaptiveLimitState(limit, state.LastDecrease);
    }
}
