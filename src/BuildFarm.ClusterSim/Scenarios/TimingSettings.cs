namespace BuildFarm.ClusterSim.Scenarios;

/// <summary>A lognormal distribution given by its median and 95th percentile, in simulated seconds.</summary>
public sealed class Distribution
{
    public double Median { get; set; } = 1;
    public double P95 { get; set; } = 3;

    public Distribution()
    {
    }

    public Distribution(double median, double p95)
    {
        Median = median;
        P95 = p95;
    }

    internal void Validate(string name, List<string> errors)
    {
        if (!(Median >= 0))
        {
            errors.Add($"{name}.median must be 0 or more (got {Median})");
        }
        if (!(P95 >= Median))
        {
            errors.Add($"{name}.p95 must be at least the median (got p95 {P95}, median {Median})");
        }
    }

    /// <summary>Draws a value: exp(mu + sigma z) with mu = ln(median), sigma = ln(p95/median)/1.645.</summary>
    public double Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (Median <= 0)
        {
            return 0;
        }
        var sigma = P95 > Median ? Math.Log(P95 / Median) / 1.6448536269514722 : 0;
        // Box-Muller: two uniforms, always drawn so the stream position does not depend on the values.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        var z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return Median * Math.Exp(sigma * z);
    }
}

/// <summary>Simulated durations of each phase.</summary>
public sealed class TimingSettings
{
    /// <summary>Scheduler latency: created → bound to a node.</summary>
    public Distribution? Schedule { get; set; }

    /// <summary>Pulling the executor image (ContainerCreating).</summary>
    public Distribution? ExecutorPull { get; set; }

    /// <summary>Base-image manifest and config retrieval.</summary>
    public Distribution? Manifest { get; set; }

    /// <summary>Base layers download and untar.</summary>
    public Distribution? Extract { get; set; }

    /// <summary>A non-RUN instruction (ENV, WORKDIR, COPY…).</summary>
    public Distribution? Step { get; set; }

    /// <summary>A RUN instruction, including its snapshot.</summary>
    public Distribution? Run { get; set; }

    /// <summary>Pushing the image to one destination.</summary>
    public Distribution? Push { get; set; }

    /// <summary>How long a network attempt runs before a reset or timeout ends it.</summary>
    public Distribution? FailedAttempt { get; set; }

    public static TimingSettings Defaults() => new()
    {
        Schedule = new(0.2, 1),
        ExecutorPull = new(2, 10),
        Manifest = new(0.5, 3),
        Extract = new(6, 30),
        Step = new(0.3, 2),
        Run = new(12, 90),
        Push = new(5, 30),
        FailedAttempt = new(3, 20),
    };

    internal void Validate(string prefix, List<string> errors)
    {
        Schedule?.Validate($"{prefix}.schedule", errors);
        ExecutorPull?.Validate($"{prefix}.executorPull", errors);
        Manifest?.Validate($"{prefix}.manifest", errors);
        Extract?.Validate($"{prefix}.extract", errors);
        Step?.Validate($"{prefix}.step", errors);
        Run?.Validate($"{prefix}.run", errors);
        Push?.Validate($"{prefix}.push", errors);
        FailedAttempt?.Validate($"{prefix}.failedAttempt", errors);
    }

    /// <summary>This with every unset phase taken from <paramref name="fallback"/>.</summary>
    public TimingSettings Over(TimingSettings fallback) => new()
    {
        Schedule = Schedule ?? fallback.Schedule,
        ExecutorPull = ExecutorPull ?? fallback.ExecutorPull,
        Manifest = Manifest ?? fallback.Manifest,
        Extract = Extract ?? fallback.Extract,
        Step = Step ?? fallback.Step,
        Run = Run ?? fallback.Run,
        Push = Push ?? fallback.Push,
        FailedAttempt = FailedAttempt ?? fallback.FailedAttempt,
    };
}
