namespace BuildFarm.Coordination;

internal static class LeaseArguments
{
    public static void Check(string resource, string holder, TimeSpan ttl)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(resource);
        ArgumentException.ThrowIfNullOrWhiteSpace(holder);
        if (ttl < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "a lease needs a positive time to live");
        }
    }
}
