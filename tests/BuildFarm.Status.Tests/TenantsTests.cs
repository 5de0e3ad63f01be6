namespace BuildFarm.Status.Tests;

public sealed class TenantsTests
{
    [Theory]
    [InlineData("team-a")]
    [InlineData("A")]
    [InlineData("payments.eu_1")]
    [InlineData("0")]
    public void IsValid_TenantNames(string tenant) => Assert.True(Tenants.IsValid(tenant));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-lead")]
    [InlineData(".lead")]
    [InlineData("a:b")]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("ä")]
    [InlineData("a\n")]
    public void IsValid_NotTenantNames(string? tenant)
    {
        Assert.False(Tenants.IsValid(tenant));
        Assert.Contains("is not a tenant name", Tenants.Problem(tenant), StringComparison.Ordinal);
    }

    [Fact]
    public void IsValid_LengthBound()
    {
        Assert.True(Tenants.IsValid(new string('a', Tenants.MaxLength)));
        Assert.False(Tenants.IsValid(new string('a', Tenants.MaxLength + 1)));
    }

    [Theory]
    [InlineData("team-a", "team-a", false, true)]
    [InlineData("team-a", "team-b", false, false)]
    [InlineData("team-a", "Team-A", false, false)]
    [InlineData(null, "team-a", false, false)]
    [InlineData("team-b", "team-a", true, true)]
    [InlineData(null, "team-a", true, true)]
    public void CanSee_OwnTenantOrAdmin(string? owner, string caller, bool admin, bool expected) =>
        Assert.Equal(expected, Tenants.CanSee(owner, caller, admin));
}
