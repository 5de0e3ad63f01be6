using System.Text;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>
/// Quote removal and variable expansion for Dockerfile words (COPY, WORKDIR, ENV, FROM, …) and for shell words in
/// RUN commands: <c>$VAR</c>, <c>${VAR}</c>, <c>${VAR:-default}</c>, <c>${VAR-default}</c>, <c>${VAR:+alt}</c>,
/// <c>${VAR+alt}</c>, <c>${VAR:=x}</c>, <c>${VAR:?msg}</c>, escaped <c>\$</c>, single and double quotes.
/// A word whose value depends on something unknown (an unknown variable, <c>$(…)</c>, backticks, <c>~</c>,
/// positional parameters, unsupported operators) expands to null: never guessed.
/// </summary>
public static class WordExpander
{
    /// <summary>Expands <paramref name="text"/> as one word (whitespace kept). Null when not static.</summary>
    public static string? Expand(string text, Func<string, VariableLookup> lookup, char escape = '\\', bool shell = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var state = new State(text, lookup, escape, shell, split: false);
        var (value, isStatic) = state.ReadWord(stopAtBrace: false);
        return isStatic ? value : null;
    }

    /// <summary>Splits <paramref name="text"/> on unquoted whitespace and expands each word (null = not static).</summary>
    public static IReadOnlyList<string?> ExpandWords(string text, Func<string, VariableLookup> lookup, char escape = '\\', bool shell = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var state = new State(text, lookup, escape, shell, split: true);
        var words = new List<string?>();
        while (true)
        {
            state.SkipBlanks();
            if (state.AtEnd)
            {
                return words;
            }
            var (value, isStatic) = state.ReadWord(stopAtBrace: false);
            words.Add(isStatic ? value : null);
        }
    }

    private sealed class State(string text, Func<string, VariableLookup> lookup, char escape, bool shell, bool split)
    {
        private int _position;

        public bool AtEnd => _position >= text.Length;

        public void SkipBlanks()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }

        /// <summary>Reads one word; inside <c>${VAR:-word}</c> stops at the closing brace.</summary>
        public (string Value, bool IsStatic) ReadWord(bool stopAtBrace)
        {
            var value = new StringBuilder();
            var isStatic = true;
            var start = _position;
            while (_position < text.Length)
            {
                var c = text[_position];
                if (split && !stopAtBrace && char.IsWhiteSpace(c))
                {
                    break;
                }
                if (stopAtBrace && c == '}')
                {
                    break;
                }
                if (c == escape)
                {
                    if (_position + 1 < text.Length)
                    {
                        value.Append(text[_position + 1]);
                        _position += 2;
                    }
                    else
                    {
                        value.Append(c);
                        _position++;
                    }
                }
                else if (c == '\'')
                {
                    var close = text.IndexOf('\'', _position + 1);
                    if (close < 0)
                    {
                        close = text.Length;
                    }
                    value.Append(text, _position + 1, close - _position - 1);
                    _position = Math.Min(close + 1, text.Length);
                }
                else if (c == '"')
                {
                    _position++;
                    while (_position < text.Length && text[_position] != '"')
                    {
                        var d = text[_position];
                        if (d == escape && _position + 1 < text.Length
                            && (text[_position + 1] is '"' or '$' or '`' or '\n' || text[_position + 1] == escape))
                        {
                            if (text[_position + 1] != '\n')
                            {
                                value.Append(text[_position + 1]);
                            }
                            _position += 2;
                        }
                        else if (d == '$')
                        {
                            isStatic &= ReadDollar(value);
                        }
                        else if (d == '`' && shell)
                        {
                            SkipBackticks();
                            isStatic = false;
                        }
                        else
                        {
                            value.Append(d);
                            _position++;
                        }
                    }
                    _position = Math.Min(_position + 1, text.Length);
                }
                else if (c == '$')
                {
                    isStatic &= ReadDollar(value);
                }
                else if (c == '`' && shell)
                {
                    SkipBackticks();
                    isStatic = false;
                }
                else if (c == '~' && shell && _position == start
                    && (_position + 1 == text.Length || text[_position + 1] == '/' || char.IsWhiteSpace(text[_position + 1])))
                {
                    isStatic = false; // the home directory: unknown
                    _position++;
                }
                else
                {
                    value.Append(c);
                    _position++;
                }
            }
            return (value.ToString(), isStatic);
        }

        private void SkipBackticks()
        {
            _position++;
            while (_position < text.Length && text[_position] != '`')
            {
                _position += text[_position] == '\\' ? 2 : 1;
            }
            _position = Math.Min(_position + 1, text.Length);
        }

        /// <summary>At a '$': appends the expansion; false when it is not static.</summary>
        private bool ReadDollar(StringBuilder value)
        {
            _position++; // '$'
            if (_position >= text.Length)
            {
                value.Append('$');
                return true;
            }
            var c = text[_position];
            if (c == '(')
            {
                ShellScript.SkipBalanced(text, ref _position);
                return false; // command substitution or arithmetic
            }
            if (c == '{')
            {
                return ReadBraced(value);
            }
            if (IsNameStart(c))
            {
                var start = _position;
                while (_position < text.Length && IsNameChar(text[_position]))
                {
                    _position++;
                }
                var found = lookup(text[start.._position]);
                if (found.State == VariableState.Unknown)
                {
                    return false;
                }
                value.Append(found.Value);
                return true;
            }
            if (char.IsDigit(c) || c is '@' or '*' or '#' or '?' or '$' or '!' or '-')
            {
                _position++;
                return false; // positional and special parameters
            }
            value.Append('$');
            return true;
        }

        private bool ReadBraced(StringBuilder value)
        {
            _position++; // '{'
            var start = _position;
            while (_position < text.Length && IsNameChar(text[_position]))
            {
                _position++;
            }
            var name = text[start.._position];
            if (name.Length == 0 || !IsNameStart(name[0]) || _position >= text.Length)
            {
                SkipToClosingBrace();
                return false;
            }
            var found = lookup(name);
            if (text[_position] == '}')
            {
                _position++;
                if (found.State == VariableState.Unknown)
                {
                    return false;
                }
                value.Append(found.Value);
                return true;
            }

            var colon = text[_position] == ':';
            var opIndex = colon ? _position + 1 : _position;
            if (opIndex >= text.Length || text[opIndex] is not ('-' or '+' or '=' or '?'))
            {
                SkipToClosingBrace();
                return false; // substring, pattern removal, replacement…: not evaluated
            }
            var op = text[opIndex];
            _position = opIndex + 1;
            var (word, wordStatic) = ReadWord(stopAtBrace: true);
            if (_position < text.Length && text[_position] == '}')
            {
                _position++;
            }

            var isSet = found.State == VariableState.Set && (!colon || found.Value.Length > 0);
            if (found.State == VariableState.Unknown)
            {
                return false;
            }
            switch (op)
            {
                case '-' or '=':
                    if (isSet)
                    {
                        value.Append(found.Value);
                        return true;
                    }
                    value.Append(word);
                    return wordStatic;
                case '+':
                    if (isSet)
                    {
                        value.Append(word);
                        return wordStatic;
                    }
                    return true;
                default: // '?': an error when unset
                    if (isSet)
                    {
                        value.Append(found.Value);
                        return true;
                    }
                    return false;
            }
        }

        private void SkipToClosingBrace()
        {
            var depth = 1;
            while (_position < text.Length && depth > 0)
            {
                var c = text[_position];
                if (c == '{')
                {
                    depth++;
                }
                else if (c == '}')
                {
                    depth--;
                }
                _position++;
            }
        }
    }

    internal static bool IsNameStart(char c) => c == '_' || char.IsAsciiLetter(c);

    internal static bool IsNameChar(char c) => c == '_' || char.IsAsciiLetterOrDigit(c);
}
