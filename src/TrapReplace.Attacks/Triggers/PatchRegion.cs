using System.Globalization;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// Where a patch trigger sits, given on a reference canvas (32x32 by default) and scaled to the data's
/// resolution like the built-in patterns: an image of H x W rows covers rows ⌈Top·H/CanvasHeight⌉ up to
/// (excluding) ⌈(Top + Height)·H/CanvasHeight⌉, and likewise for columns.
/// </summary>
/// <param name="Top">First canvas row of the patch, 0-based.</param>
/// <param name="Left">First canvas column of the patch, 0-based.</param>
/// <param name="Height">Patch height on the canvas, at least 1.</param>
/// <param name="Width">Patch width on the canvas, at least 1.</param>
/// <param name="CanvasHeight">Height of the reference canvas.</param>
/// <param name="CanvasWidth">Width of the reference canvas.</param>
public sealed record PatchRegion(int Top, int Left, int Height, int Width, int CanvasHeight = 32, int CanvasWidth = 32)
{
    /// <summary>A square patch of side <paramref name="size"/> in the bottom-right corner of the canvas.</summary>
    /// <param name="size">Side of the patch on the canvas.</param>
    /// <param name="canvasSize">Side of the square canvas.</param>
    /// <returns>The region.</returns>
    public static PatchRegion BottomRight(int size, int canvasSize = 32) =>
        new(canvasSize - size, canvasSize - size, size, size, canvasSize, canvasSize);

    /// <summary>Throws an <see cref="ArgumentException"/> listing every invalid value, for example a patch that
    /// does not fit in the canvas.</summary>
    /// <param name="paramName">The parameter name to report.</param>
    /// <exception cref="ArgumentException">The region is invalid.</exception>
    public void Validate(string paramName = "region")
    {
        var errors = new List<string>();
        if (CanvasHeight < 1 || CanvasWidth < 1)
        {
            errors.Add($"the canvas must be at least 1x1, got {CanvasHeight}x{CanvasWidth}");
        }

        if (Height < 1 || Width < 1)
        {
            errors.Add($"the patch must be at least 1x1, got {Height}x{Width}");
        }

        if (Top < 0 || Left < 0)
        {
            errors.Add($"Top and Left must be non-negative, got ({Top}, {Left})");
        }

        if ((long)Top + Height > CanvasHeight || (long)Left + Width > CanvasWidth)
        {
            errors.Add($"the {Height}x{Width} patch at ({Top}, {Left}) is larger than the {CanvasHeight}x{CanvasWidth} canvas");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"Invalid patch region {this}: {string.Join("; ", errors)}."), paramName);
        }
    }

    /// <summary>Maps a canvas span [start, start + length) onto an image axis of <paramref name="size"/> pixels.</summary>
    internal static (long Start, long End) Scale(int start, int length, int canvas, long size) =>
        (CeilDiv(start * size, canvas), CeilDiv((start + length) * size, canvas));

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;
}
