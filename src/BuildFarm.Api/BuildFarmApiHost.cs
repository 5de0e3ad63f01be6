namespace BuildFarm.Api;

/// <summary>Marker type of the API host's assembly, for <c>WebApplicationFactory&lt;BuildFarmApiHost&gt;</c>.</summary>
public sealed class BuildFarmApiHost
{
    private BuildFarmApiHost()
    {
    }
}
