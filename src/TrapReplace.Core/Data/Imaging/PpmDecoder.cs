namespace TrapReplace.Data;

/// <summary>An 8-bit RGB image, interleaved (R, G, B per pixel), rows top to bottom.</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Pixels">Width * Height * 3 bytes.</param>
internal readonly record struct RgbImage(int Width, int Height, byte[] Pixels);

/// <summary>
/// Decodes binary PPM ("P6") images as the GTSRB archives store them: the magic <c>P6</c>, then
/// width, height and maxval as ASCII decimals separated by whitespace, with <c>#</c> comments
/// allowed between them, then exactly one whitespace byte and width*height*3 bytes of RGB.
/// Only maxval 255 (one byte per sample) is accepted.
/// </summary>
internal static class PpmDecoder
{
    /// <summary>Largest width or height accepted, to refuse absurd headers before allocating.</summary>
    internal const int MaxDimension = 1 << 14;

    /// <summary>Decodes <paramref name="data"/>.</summary>
    /// <exception cref="InvalidDataException">The header is malformed or the pixel data are truncated;
    /// the message says which and where (callers add the file or entry name).</exception>
    internal static RgbImage Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length < 2 || data[0] != (byte)'P' || data[1] != (byte)'6')
        {
            var start = data.Length >= 2 ? $"'{(char)data[0]}{(char)data[1]}'" : $"{data.Length} bytes";
            throw new InvalidDataException($"not a binary PPM image: expected the magic 'P6', found {start}");
        }
        int position = 2;
        int width = ReadHeaderNumber(data, ref position, "width");
        int height = ReadHeaderNumber(data, ref position, "height");
        int maxValue = ReadHeaderNumber(data, ref position, "maxval");
        if (width is < 1 or > MaxDimension || height is < 1 or > MaxDimension)
            throw new InvalidDataException($"bad PPM header: size {width}x{height} is outside 1..{MaxDimension}");
        if (maxValue != 255)
            throw new InvalidDataException($"unsupported PPM maxval {maxValue}: only 8-bit images (maxval 255) are supported");
        if (position >= data.Length || !IsWhitespace(data[position]))
            throw new InvalidDataException("bad PPM header: no whitespace byte between the maxval and the pixel data");
        position++;

        int expected = checked(width * height * 3);
        int available = data.Length - position;
        if (available < expected)
            throw new InvalidDataException($"truncated PPM pixel data: a {width}x{height} image needs {expected} bytes, found {available}");
        return new RgbImage(width, height, data.Slice(position, expected).ToArray());
    }

    private static int ReadHeaderNumber(ReadOnlySpan<byte> data, ref int position, string field)
    {
        // Skip whitespace and comments; the number must be preceded by at least one of them.
        bool separated = false;
        while (position < data.Length)
        {
            if (IsWhitespace(data[position]))
            {
                position++;
                separated = true;
            }
            else if (data[position] == (byte)'#')
            {
                while (position < data.Length && data[position] != (byte)'\n' && data[position] != (byte)'\r') position++;
                separated = true;
            }
            else
            {
                break;
            }
        }
        if (position >= data.Length)
            throw new InvalidDataException($"bad PPM header: the data end before the {field}");
        if (!separated || !char.IsAsciiDigit((char)data[position]))
            throw new InvalidDataException($"bad PPM header: expected the {field} as a decimal number at byte {position}, found '{Printable(data[position])}'");
        long value = 0;
        while (position < data.Length && char.IsAsciiDigit((char)data[position]))
        {
            value = value * 10 + (data[position] - '0');
            if (value > int.MaxValue)
                throw new InvalidDataException($"bad PPM header: the {field} is too large");
            position++;
        }
        return (int)value;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    private static string Printable(byte b) => b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"\\x{b:X2}";
}
