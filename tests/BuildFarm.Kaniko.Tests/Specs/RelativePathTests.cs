using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Kaniko.Tests.Specs;

public sealed class RelativePathTests
{
    [Theory]
    [InlineData("Dockerfile", "Dockerfile")]
    [InlineData("./Dockerfile", "Dockerfile")]
    [InlineData("a//b/./c", "a/b/c")]
    [InlineData("a/../Dockerfile", "Dockerfile")]
    [InlineData("a/b/", "a/b")]
    [InlineData("", "")]
    [InlineData(".", "")]
    [InlineData("..x/y", "..x/y")]
    public void TryNormalize_SafePath_Normalised(string path, string expected)
    {
        Assert.True(RelativePath.TryNormalize(path, out var normalized, out var error), error);
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("..", "climbs out")]
    [InlineData("a/../../b", "climbs out")]
    [InlineData("https://x/Dockerfile", "URL")]
    [InlineData("a\\b", "backslash")]
    [InlineData("a\tb", "control")]
    public void TryNormalize_UnsafePath_Rejected(string path, string fragment)
    {
        Assert.False(RelativePath.TryNormalize(path, out _, out var error));
        Assert.Contains(fragment, error, StringComparison.Ordinal);
    }
}
