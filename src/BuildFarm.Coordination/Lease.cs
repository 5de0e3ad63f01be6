namespace BuildFarm.Coordination;

/// <summary>
/// A time-limited hold on a shared resource (a destination lock or a registry slot). A lease is not a
/// guarantee: it expires when its holder stops renewing it (a dead worker), and the fencing token lets
/// whoever acts on the resource check that it still holds the newest lease before it commits.
/// </summary>
/// <param name="Resource">What is held: a destination reference or a registry host.</param>
/// <param name="Holder">Who holds it: a build id.</param>
/// <param name="FencingToken">Increases with every grant of the same resource; a newer grant invalidates older ones.</param>
public sealed record Lease(string Resource, string Holder, long FencingToken);
