using System.Net;

namespace BuildFarm.Client;

/// <summary>An RFC 9457 problem document as the API returns it (<c>application/problem+json</c>).</summary>
public sealed record ApiProblem
{
    public string? Type { get; init; }
    public string? Title { get; init; }
    public int? Status { get; init; }
    public string? Detail { get; init; }

    /// <summary>Field (e.g. <c>images[3].destinations[0]</c>) → what is wrong with it (validation errors).</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; init; } = new Dictionary<string, string[]>();
}

/// <summary>The API answered with an error status; <see cref="Problem"/> carries its problem details.</summary>
public sealed class BuildFarmApiException : Exception
{
    public BuildFarmApiException()
    {
        Problem = new ApiProblem();
    }

    public BuildFarmApiException(string message)
        : base(message)
    {
        Problem = new ApiProblem { Detail = message };
    }

    public BuildFarmApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problem = new ApiProblem { Detail = message };
    }

    public BuildFarmApiException(HttpStatusCode statusCode, ApiProblem problem, TimeSpan? retryAfter = null)
        : base(Describe(statusCode, problem))
    {
        ArgumentNullException.ThrowIfNull(problem);
        StatusCode = statusCode;
        Problem = problem;
        RetryAfter = retryAfter;
    }

    public HttpStatusCode StatusCode { get; }
    public ApiProblem Problem { get; }

    /// <summary>The <c>Retry-After</c> the API sent (503 when the broker is unreachable).</summary>
    public TimeSpan? RetryAfter { get; }

    private static string Describe(HttpStatusCode statusCode, ApiProblem problem)
    {
        var text = $"{(int)statusCode} {problem?.Title ?? statusCode.ToString()}";
        if (!string.IsNullOrEmpty(problem?.Detail))
        {
            text += ": " + problem.Detail;
        }
        if (problem?.Errors is { Count: > 0 } errors)
        {
            text += " (" + string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")) + ")";
        }
        return text;
    }
}
