using System.Security.Cryptography;

namespace BuildFarm.Api.Submissions;

/// <summary>Ids the API chooses: <c>b-</c> or <c>batch-</c> and 20 random lower-case hex digits (80 bits), short enough
/// for pod names (<c>bf-&lt;build&gt;-&lt;attempt&gt;</c>) and label values.</summary>
public static class BuildIds
{
    public static string NewBuildId() => "b-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10));

    public static string NewBatchId() => "batch-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10));
}
