"""Vector files: one writer and one reader, by suffix, for every table of features the package writes."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio.warp
from rasterio.crs import CRS

import smallmines_classic
from smallmines_classic.errors import InputError, OutputError, PointsError, RegionsError
from smallmines_classic.io.vectors import VECTOR_FORMATS, read_vector, write_vector

shapely = pytest.importorskip("shapely", reason="needs the scale extra")
pytest.importorskip("pyogrio", reason="needs the scale extra")

UTM = "EPSG:32630"
ROOT = Path(smallmines_classic.__file__).parent


@pytest.fixture
def features():
    """Two polygons (one with a hole, one multi) in UTM, with integer, float, text and null fields."""
    square = shapely.Polygon([(600000.123456789, 700000.987654321), (600100.5, 700000.25), (600100.5, 700100.75),
                              (600000.123456789, 700100.75)], holes=[[(600040, 700040), (600060, 700040),
                                                                      (600060, 700060)]])
    two = shapely.MultiPolygon([shapely.box(600200, 700000, 600210, 700010),
                                shapely.box(600220, 700000, 600230, 700010)])
    fields = {"id": np.array([1, 2]), "area_m2": np.array([10012.345678912345, 200.0]),
              "region": np.array(["Wést", None], dtype=object)}
    return fields, [square, two]


def as_multi(geometries):
    """The geometries as a layer holding single and multi parts stores them: every polygon a multipolygon."""
    return [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in geometries]


def in_wgs84(geometries):
    return [shapely.geometry.shape(rasterio.warp.transform_geom(UTM, "EPSG:4326", shapely.geometry.mapping(g)))
            for g in geometries]


@pytest.mark.parametrize("name", ["f.gpkg", "f.shp"])
def test_geopackage_and_shapefile_keep_the_crs_and_every_digit(features, tmp_path, name):
    fields, geometries = features
    write_vector(tmp_path / name, fields, geometries, crs=UTM, geometry_type="Polygon", layer="mined")
    back = read_vector(tmp_path / name)
    assert CRS.from_user_input(back.crs) == CRS.from_user_input(UTM)
    for got, given in zip(back.geometries, geometries):   # the same shape and the very same vertices
        assert got.equals(given) and set(map(tuple, shapely.get_coordinates(got))) == \
            set(map(tuple, shapely.get_coordinates(given)))
    assert back.fields["id"].tolist() == [1, 2] and back.fields["area_m2"].tolist() == fields["area_m2"].tolist()
    assert back.fields["region"].tolist() == ["Wést", None]
    if name.endswith(".shp"):  # one commit of every file of the Shapefile, and no temporary left
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f.cpg", "f.dbf", "f.prj", "f.shp", "f.shx"]


@pytest.mark.parametrize("name", ["f.geojson", "f.json"])
def test_geojson_is_wgs84_per_rfc7946_with_seven_decimals(features, tmp_path, name):
    fields, geometries = features
    write_vector(tmp_path / name, fields, geometries, crs=UTM, geometry_type="Polygon")
    data = json.loads((tmp_path / name).read_text())
    assert "crs" not in data   # RFC 7946: WGS 84 always, no crs member
    coordinates = np.array([xy for feature in data["features"] for polygon in feature["geometry"]["coordinates"]
                            for ring in polygon for xy in ring])
    assert np.array_equal(coordinates, np.round(coordinates, 7))
    expected = in_wgs84(as_multi(geometries))
    back = read_vector(tmp_path / name)
    assert CRS.from_user_input(back.crs).to_epsg() == 4326
    for got, want in zip(back.geometries, expected):
        assert got.normalize().equals_exact(want.normalize(), 1e-7)   # GDAL reprojects: the same points, to 1 cm
    assert back.fields["area_m2"].tolist() == fields["area_m2"].tolist()   # properties keep every digit


def test_csv_holds_the_fields_and_wkt_at_full_precision(features, tmp_path):
    fields, geometries = features
    write_vector(tmp_path / "f.csv", fields, geometries, crs=UTM)
    header = (tmp_path / "f.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "WKT,id,area_m2,region"   # the column GDAL and QGIS read as the geometry
    back = read_vector(tmp_path / "f.csv")
    assert back.crs is None   # a CSV file declares no CRS
    assert [g.equals_exact(h, 0) for g, h in zip(back.geometries, geometries)] == [True, True]
    assert {name: values.tolist() for name, values in back.fields.items()} == {
        "id": ["1", "2"], "area_m2": ["10012.345678912345", "200.0"], "region": ["Wést", ""]}


@pytest.mark.parametrize("name", ["p.csv", "p.gpkg", "p.geojson", "p.shp"])
def test_points_given_as_two_fields_round_trip(tmp_path, name):
    fields = {"id": np.arange(1, 4), "x": np.array([600005.5, 600015.25, 600025.125]),
              "y": np.array([700005.5, 699995.75, 699985.0])}
    write_vector(tmp_path / name, fields, crs=UTM, xy=("x", "y"), geometry_type="Point")
    back = read_vector(tmp_path / name)
    assert np.asarray(back.fields["x"]).astype(float).tolist() == fields["x"].tolist()   # every format keeps the fields
    if name.endswith(".csv"):   # the point is its x, y columns, as spreadsheets and QGIS read it
        assert list(back.fields) == ["id", "x", "y"] and set(back.geometries) == {None}
        return
    xy = shapely.get_coordinates(back.geometries)
    if name.endswith(".geojson"):
        lon, lat = rasterio.warp.transform(UTM, "EPSG:4326", fields["x"], fields["y"])
        np.testing.assert_allclose(xy, np.column_stack([lon, lat]), rtol=0, atol=1e-7)
    else:
        assert xy.tolist() == np.column_stack([fields["x"], fields["y"]]).tolist()


def test_an_empty_layer_and_mixed_parts(tmp_path, features):
    _, geometries = features
    write_vector(tmp_path / "none.gpkg", {"id": np.array([], int)}, [], crs=UTM, geometry_type="Polygon")
    assert len(read_vector(tmp_path / "none.gpkg").geometries) == 0
    write_vector(tmp_path / "mixed.gpkg", {"id": np.arange(2)}, geometries, crs=UTM)   # Polygon and MultiPolygon
    assert {g.geom_type for g in read_vector(tmp_path / "mixed.gpkg").geometries} == {"MultiPolygon"}
    with pytest.raises(InputError, match=r"a layer of Polygon features cannot hold \['Point'\]"):
        write_vector(tmp_path / "bad.gpkg", {"id": np.arange(2)}, [geometries[0], shapely.Point(1, 2)], crs=UTM)
    assert not (tmp_path / "bad.gpkg").exists()


def test_other_suffixes_are_refused_before_anything_is_written(tmp_path):
    for name in ("f.txt", "f"):
        with pytest.raises(OutputError, match=r"polygons are written as GeoPackage \(\.gpkg\), CSV \(\.csv\), GeoJSON "
                                              r"\(\.geojson, \.json\) or Shapefile \(\.shp\), not"):
            write_vector(tmp_path / name, {"id": [1]}, [shapely.Point(0, 0)], crs=UTM, what="polygons")
    assert list(tmp_path.iterdir()) == []
    assert set(VECTOR_FORMATS) == {".gpkg", ".csv", ".geojson", ".json", ".shp"}


def test_unreadable_files_name_themselves_with_the_callers_error(tmp_path):
    (tmp_path / "broken.gpkg").write_bytes(b"not a GeoPackage")
    with pytest.raises(RegionsError, match="cannot read the regions .*broken.gpkg"):
        read_vector(tmp_path / "broken.gpkg", what="regions", error=RegionsError)
    with pytest.raises(PointsError, match="cannot read the points .*missing.csv"):
        read_vector(tmp_path / "missing.csv", what="points", error=PointsError)
    (tmp_path / "short.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(PointsError, match=r"short.csv, line 3: 1 fields where the header has 2"):
        read_vector(tmp_path / "short.csv", what="points", error=PointsError)


# --- one writer: no other module of the package writes or reads vector files --------------------------------------

#: Names that only a reader or writer of vector files uses: the libraries and GDAL's vector drivers and options.
VECTOR_NAMES = ("pyogrio", "fiona", "geopandas", "osgeo.ogr")
VECTOR_STRINGS = {"GPKG", "GeoJSON", "ESRI Shapefile", "RFC7946", "FlatGeobuf"}


def _vector_uses(source):
    """The vector libraries ``source`` imports (also as ``require("pyogrio.raw", ...)``) and the drivers it names."""
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith(VECTOR_NAMES))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(VECTOR_NAMES):
            yield node.module
        elif isinstance(node, ast.Call):
            yield from (arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                        and arg.value.startswith(VECTOR_NAMES) and "." in arg.value)
        elif isinstance(node, ast.Constant) and node.value in VECTOR_STRINGS:
            yield node.value


def test_every_vector_file_goes_through_io_vectors():
    vectors = ROOT / "io" / "vectors.py"
    assert set(_vector_uses(vectors)) >= {"pyogrio.raw", "GPKG", "GeoJSON", "ESRI Shapefile", "RFC7946"}
    offenders = [f"{source.relative_to(ROOT)}: {name}" for source in sorted(ROOT.rglob("*.py")) if source != vectors
                 for name in _vector_uses(source)]
    assert offenders == []
