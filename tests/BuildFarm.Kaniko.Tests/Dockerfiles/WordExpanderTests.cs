using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

public sealed class WordExpanderTests
{
    private static VariableLookup Lookup(string name) => name switch
    {
        "SET" => VariableLookup.Of("value"),
        "EMPTY" => VariableLookup.Of(string.Empty),
        "UNSET" => VariableLookup.Unset,
        "DIR" => VariableLookup.Of("/workspace"),
        _ => VariableLookup.Unknown,
    };

    [Theory]
    [InlineData("$SET", "value")]
    [InlineData("${SET}", "value")]
    [InlineData("a${SET}b", "avalueb")]
    [InlineData("${UNSET:-def}", "def")]
    [InlineData("${EMPTY:-def}", "def")]
    [InlineData("${EMPTY-def}", "")]
    [InlineData("${UNSET-def}", "def")]
    [InlineData("${SET:-def}", "value")]
    [InlineData("${SET:+alt}", "alt")]
    [InlineData("${EMPTY:+alt}", "")]
    [InlineData("${EMPTY+alt}", "alt")]
    [InlineData("${UNSET:+alt}", "")]
    [InlineData("${UNSET:-$DIR/x}", "/workspace/x")]
    [InlineData("${UNSET:=z}", "z")]
    [InlineData("$UNSET", "")]
    [InlineData("\\$SET", "$SET")]
    [InlineData("'$SET'", "$SET")]
    [InlineData("\"$SET x\"", "value x")]
    [InlineData("\"a\\\"b\"", "a\"b")]
    [InlineData("price$", "price$")]
    [InlineData("$/x", "$/x")]
    public void Expand_StaticForms_GiveTheValue(string text, string expected)
    {
        Assert.Equal(expected, WordExpander.Expand(text, Lookup));
    }

    [Theory]
    [InlineData("$OTHER")]
    [InlineData("${OTHER:-x}")]
    [InlineData("${OTHER:+x}")]
    [InlineData("${UNSET:?missing}")]
    [InlineData("${SET#v}")]
    [InlineData("${#SET}")]
    [InlineData("${SET:0:2}")]
    [InlineData("$(pwd)/x")]
    [InlineData("$1")]
    public void Expand_UnknownOrUnsupported_IsNotStatic(string text)
    {
        Assert.Null(WordExpander.Expand(text, Lookup));
    }

    [Theory]
    [InlineData("`pwd`")]
    [InlineData("~/x")]
    [InlineData("\"`pwd`\"")]
    public void Expand_ShellOnlyForms_AreNotStaticInShellMode(string text)
    {
        Assert.Null(WordExpander.Expand(text, Lookup, '\\', shell: true));
    }

    [Fact]
    public void Expand_UnusedAlternativeMayBeUnknown_StillStatic()
    {
        Assert.Equal("value", WordExpander.Expand("${SET:-$OTHER}", Lookup));
        Assert.Null(WordExpander.Expand("${UNSET:-$OTHER}", Lookup));
    }

    [Fact]
    public void Expand_BacktickEscape_EscapesDollar()
    {
        Assert.Equal("$SET C:\\dir", WordExpander.Expand("`$SET C:\\dir", Lookup, '`'));
    }

    [Fact]
    public void ExpandWords_SplitsOnUnquotedWhitespaceAndMarksUnknownWords()
    {
        var words = WordExpander.ExpandWords("a \"b c\" $OTHER ${DIR}/d", Lookup);

        Assert.Equal(["a", "b c", null, "/workspace/d"], words);
    }
}
