namespace BuildFarm.Cli.Tests;

public sealed class PluralTests
{
    [Theory]
    [InlineData(0, "0 builds")]
    [InlineData(1, "1 build")]
    [InlineData(2, "2 builds")]
    public void Of_OneIsSingular(long count, string expected) => Assert.Equal(expected, Plural.Of(count, "build"));

    [Fact]
    public void Of_IrregularPlural() => Assert.Equal("3 Kaniko retries", Plural.Of(3, "Kaniko retry", "Kaniko retries"));
}
