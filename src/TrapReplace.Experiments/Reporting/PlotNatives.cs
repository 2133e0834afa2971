using SkiaSharp;

namespace TrapReplace.Experiments.Reporting;

/// <summary>
/// The plots need two native libraries the package leaves to the application on Linux: libSkiaSharp (drawing) and
/// libHarfBuzzSharp (ScottPlot's text shaping). Checked before the first plot, so a missing one is named instead of
/// surfacing as a type-initialisation failure deep inside ScottPlot.
/// </summary>
internal static class PlotNatives
{
    /// <summary>The message a missing native library gets, naming the packages that bring them.</summary>
    internal const string Missing =
        "drawing the report's plots needs SkiaSharp's and HarfBuzz's native libraries (libSkiaSharp, libHarfBuzzSharp); {0} was not found: " +
        "on Linux add the packages SkiaSharp.NativeAssets.Linux.NoDependencies and HarfBuzzSharp.NativeAssets.Linux to your application; " +
        "Windows and macOS get them with SkiaSharp and HarfBuzzSharp.";

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the packages when either library cannot be loaded.</summary>
    internal static void Require()
    {
        Load("libSkiaSharp", () => _ = SkiaSharpVersion.Native);
        Load("libHarfBuzzSharp", () => { using var buffer = new HarfBuzzSharp.Buffer(); });
    }

    private static void Load(string library, Action touch)
    {
        try
        {
            touch();
        }
        catch (Exception ex) when (ex is DllNotFoundException || ex is TypeInitializationException || ex is EntryPointNotFoundException)
        {
            throw new InvalidOperationException(string.Format(System.Globalization.CultureInfo.InvariantCulture, Missing, library), ex);
        }
    }
}
