namespace BuildFarm.Wire;

/// <summary>HTTP headers of the API that are part of its contract.</summary>
public static class ApiHeaders
{
    /// <summary>A retry of a submit with the same key answers the first submit's result (docs/api.md "Idempotency").</summary>
    public const string IdempotencyKey = "Idempotency-Key";
}
