using System.Globalization;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Kaniko.Pods;

/// <summary>
/// The Kaniko container's memory limit and request, in bytes (<see cref="RequestBytes"/> null: the pod names no memory
/// request). The figures of the retry after an OOM kill (<see cref="Doubled"/>) and of a build that starts from a figure
/// learned from its image's history (<see cref="Starting"/>). Pure; every figure is at most <see cref="MaxBytes"/>, so
/// doubling never overflows.
/// </summary>
public sealed record PodMemory(long LimitBytes, long? RequestBytes)
{
    /// <summary>The largest figure handled (1 PiB): larger quantities are refused, so doubling never overflows.</summary>
    public const long MaxBytes = 1L << 50;

    private const long Ki = 1024;

    /// <summary>The limit as a Kubernetes quantity (<c>2Gi</c>, <c>1536Mi</c>, or plain bytes).</summary>
    public string Limit => Format(LimitBytes);

    /// <summary>The request as a Kubernetes quantity; null when the pod names none.</summary>
    public string? Request => RequestBytes is { } request ? Format(request) : null;

    /// <summary>
    /// <paramref name="quantity"/> (<c>512Mi</c>, <c>2Gi</c>, <c>1G</c>, <c>1500M</c>, <c>1073741824</c>) in whole bytes,
    /// rounded up; false for anything not a positive quantity of at most <see cref="MaxBytes"/>.
    /// </summary>
    public static bool TryParseBytes(string? quantity, out long bytes)
    {
        bytes = 0;
        if (!Quantity.TryParse(quantity?.Trim(), out var value, out _) || value <= 0 || value > MaxBytes)
        {
            return false;
        }
        bytes = (long)decimal.Ceiling(value);
        return true;
    }

    /// <summary><paramref name="bytes"/> as the shortest exact binary quantity: <c>2Gi</c>, <c>1536Mi</c>, <c>3Ki</c>, else plain bytes.</summary>
    public static string Format(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        foreach (var (suffix, factor) in new[] { ("Ti", Ki * Ki * Ki * Ki), ("Gi", Ki * Ki * Ki), ("Mi", Ki * Ki), ("Ki", Ki) })
        {
            if (bytes > 0 && bytes % factor == 0)
            {
                return (bytes / factor).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The memory a pod for <paramref name="requested"/> gets (each figure the spec's own, else the farm's default), or
    /// null when it has no memory limit (or one that does not parse): without a limit there is nothing to raise.
    /// </summary>
    public static PodMemory? Of(BuildResources? requested, BuildResources defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        if (!TryParseBytes(requested?.MemoryLimit ?? defaults.MemoryLimit, out var limit))
        {
            return null;
        }
        long? request = TryParseBytes(requested?.MemoryRequest ?? defaults.MemoryRequest, out var r) ? r : null;
        return new PodMemory(limit, request);
    }

    /// <summary>
    /// The figure of the retry after an OOM kill at this one: twice the limit and twice the request, each at most
    /// <paramref name="capBytes"/> and the request at most the new limit. Null when the limit is already at or above the cap
    /// (nothing left to try).
    /// </summary>
    public PodMemory? Doubled(long capBytes)
    {
        if (LimitBytes >= capBytes)
        {
            return null;
        }
        var limit = Math.Min(LimitBytes * 2, capBytes);
        return new PodMemory(limit, RequestBytes is { } request ? Math.Min(request * 2, limit) : null);
    }

    /// <summary>
    /// What a build whose own figure is <paramref name="own"/> starts with, given the figure <paramref name="learned"/> from
    /// its image's earlier OOM kills: the learned limit (at most <paramref name="capBytes"/>) when above its own limit, with
    /// the larger of the two requests (at most that limit); null (keep its own) otherwise, and always when the build has no
    /// memory limit or nothing was learned.
    /// </summary>
    public static PodMemory? Starting(PodMemory? own, PodMemory? learned, long capBytes)
    {
        if (own is null || learned is null)
        {
            return null;
        }
        var limit = Math.Min(learned.LimitBytes, capBytes);
        if (limit <= own.LimitBytes)
        {
            return null;
        }
        long? request = (own.RequestBytes, learned.RequestBytes) switch
        {
            (null, null) => null,
            ({ } a, null) => a,
            (null, { } b) => b,
            ({ } a, { } b) => Math.Max(a, b),
        };
        return new PodMemory(limit, request is { } r ? Math.Min(r, limit) : null);
    }
}
