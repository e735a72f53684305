-- Full-text search (issue #7): a folded copy of each message's content with a trigram
-- index for matching, and its words as a tsvector for ranking. Both are generated
-- columns, so no write path of the store has to know about them.
--
-- Matching must be the same as on SQLite, whose FTS5 trigram tokenizer folds text
-- (lower case, Latin accents removed, combining accents dropped). natter_fold() does
-- exactly that: it is generated from natter_store::search::folded_characters (itself a
-- port of SQLite's table) and a unit test keeps the two equal. unaccent is deliberately
-- not used: its rules differ (ß → ss, æ → ae), which would make the stores disagree, and
-- it needs an extension that may not be installable.
--
-- search_text is NULL for deleted messages (deleted_at set), so they leave the index.
-- The tsvector has no GIN index: search finds candidates through the trigram index (a
-- word index cannot find parts of words, so it could not narrow the same query) and
-- reads the vector only to rank the candidates.

CREATE FUNCTION natter_fold(t text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $fold$
BEGIN
    t := lower(t COLLATE "C");
    IF octet_length(t) = char_length(t) THEN RETURN t; END IF;
    IF t ~ '[\u00b5-\u00f2]' THEN t := translate(t, 'µÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞàáâãäåçèéêëìíîïñò', 'μaaaaaaæceeeeiiiiðnoooooøuuuuyþaaaaaaceeeeiiiino'); END IF;
    IF t ~ '[\u00f3-\u0126]' THEN t := translate(t, 'óôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦ', 'oooouuuuyyaaaaaaccccccccddđeeeeeeeeeegggggggghhħ'); END IF;
    IF t ~ '[\u0128-\u015f]' THEN t := translate(t, 'ĨĩĪīĬĭĮįİĲĴĵĶķĹĺĻļĽľĿŁŃńŅņŇňŊŌōŎŏŐőŒŔŕŖŗŘřŚśŜŝŞş', 'iiiiiiiiiĳjjkkllllllŀłnnnnnnŋooooooœrrrrrrssssss'); END IF;
    IF t ~ '[\u0160-\u0198]' THEN t := translate(t, 'ŠšŢţŤťŦŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘ', 'ssttttŧuuuuuuuuuuuuwwyyyzzzzzzsɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙ'); END IF;
    IF t ~ '[\u019c-\u01e4]' THEN t := translate(t, 'ƜƝƟƠơƢƤƦƧƩƬƮƯưƱƲƳƵƷƸƼǄǅǇǈǊǋǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǢǤ', 'ɯɲɵooƣƥʀƨʃƭʈuuʊʋƴƶʒƹƽǆǆǉǉǌǌaaiioouuuuuuuuuuaaǡǣǥ'); END IF;
    IF t ~ '[\u01e6-\u0219]' THEN t := translate(t, 'ǦǧǨǩǪǫǬǭǮǰǱǲǴǵǶǷǸǹǺǻǼǾȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘș', 'ggkkooooǯjǳǳggƕƿnnaaǽǿaaaaeeeeiiiioooorrrruuuuss'); END IF;
    IF t ~ '[\u021a-\u030f]' THEN t := translate(t, 'ȚțȜȞȟȠȢȤȦȧȨȩȪȫȬȭȮȯȰȱȲȳȺȻȽȾɁɃɄɅɆɈɊɌɎ̀́̂̃̄̆̇̈̉̊̋̌̏', 'ttȝhhƞȣȥaaeeooooooooyyⱥȼƚⱦɂƀʉʌɇɉɋɍɏ'); END IF;
    IF t ~ '[\u0311-\u03aa]' THEN t := translate(t, 'ͅͰͲͶΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪ̧̨̛̣̤̥̦̭̮̰̱̑', 'ιͱͳͷάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊ'); END IF;
    IF t ~ '[\u03ab-\u0412]' THEN t := translate(t, 'ΫςϏϐϑϕϖϘϚϜϞϠϢϤϦϨϪϬϮϰϱϴϵϷϹϺϽϾϿЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВ', 'ϋσϗβθφπϙϛϝϟϡϣϥϧϩϫϭϯκρθεϸϲϻͻͼͽѐёђѓєѕіїјљњћќѝўџабв'); END IF;
    IF t ~ '[\u0413-\u048c]' THEN t := translate(t, 'ГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌ', 'гдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍ'); END IF;
    IF t ~ '[\u048e-\u04ec]' THEN t := translate(t, 'ҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶҸҺҼҾӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬ', 'ҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷҹһҽҿӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭ'); END IF;
    IF t ~ '[\u04ee-\u0543]' THEN t := translate(t, 'ӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎԐԒԔԖԘԚԜԞԠԢԤԦԱԲԳԴԵԶԷԸԹԺԻԼԽԾԿՀՁՂՃ', 'ӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏԑԓԕԗԙԛԝԟԡԣԥԧաբգդեզէըթժիլխծկհձղճ'); END IF;
    IF t ~ '[\u0544-\u10bc]' THEN t := translate(t, 'ՄՅՆՇՈՉՊՋՌՍՎՏՐՑՒՓՔՕՖႠႡႢႣႤႥႦႧႨႩႪႫႬႭႮႯႰႱႲႳႴႵႶႷႸႹႺႻႼ', 'մյնշոչպջռսվտրցւփքօֆⴀⴁⴂⴃⴄⴅⴆⴇⴈⴉⴊⴋⴌⴍⴎⴏⴐⴑⴒⴓⴔⴕⴖⴗⴘⴙⴚⴛⴜ'); END IF;
    IF t ~ '[\u10bd-\u1e24]' THEN t := translate(t, 'ႽႾႿჀჁჂჃჄჅჇჍḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤ', 'ⴝⴞⴟⴠⴡⴢⴣⴤⴥⴧⴭaabbbbbbccddddddddddeeeeeeeeeeffgghhh'); END IF;
    IF t ~ '[\u1e25-\u1e54]' THEN t := translate(t, 'ḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔ', 'hhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooop'); END IF;
    IF t ~ '[\u1e55-\u1e84]' THEN t := translate(t, 'ṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄ', 'ppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwww'); END IF;
    IF t ~ '[\u1e85-\u1eb8]' THEN t := translate(t, 'ẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẞẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸ', 'wwwwwxxxxyyzzzzzzhtwysßaaaaaaaaaaaaaaaaaaaaaaaae'); END IF;
    IF t ~ '[\u1eb9-\u1ee8]' THEN t := translate(t, 'ẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨ', 'eeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuu'); END IF;
    IF t ~ '[\u1ee9-\u1f3d]' THEN t := translate(t, 'ứỪừỬửỮữỰựỲỳỴỵỶỷỸỹỺỼỾἈἉἊἋἌἍἎἏἘἙἚἛἜἝἨἩἪἫἬἭἮἯἸἹἺἻἼἽ', 'uuuuuuuuuyyyyyyyyỻỽỿἀἁἂἃἄἅἆἇἐἑἒἓἔἕἠἡἢἣἤἥἦἧἰἱἲἳἴἵ'); END IF;
    IF t ~ '[\u1f3e-\u1fbb]' THEN t := translate(t, 'ἾἿὈὉὊὋὌὍὙὛὝὟὨὩὪὫὬὭὮὯᾈᾉᾊᾋᾌᾍᾎᾏᾘᾙᾚᾛᾜᾝᾞᾟᾨᾩᾪᾫᾬᾭᾮᾯᾸᾹᾺΆ', 'ἶἷὀὁὂὃὄὅὑὓὕὗὠὡὢὣὤὥὦὧᾀᾁᾂᾃᾄᾅᾆᾇᾐᾑᾒᾓᾔᾕᾖᾗᾠᾡᾢᾣᾤᾥᾦᾧᾰᾱὰά'); END IF;
    IF t ~ '[\u1fbc-\u24bb]' THEN t := translate(t, 'ᾼιῈΈῊΉῌῘῙῚΊῨῩῪΎῬῸΌῺΏῼΩKÅℲⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫⅬⅭⅮⅯↃⒶⒷⒸⒹⒺⒻ', 'ᾳιὲέὴήῃῐῑὶίῠῡὺύῥὸόὼώῳωkaⅎⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹⅺⅻⅼⅽⅾⅿↄⓐⓑⓒⓓⓔⓕ'); END IF;
    IF t ~ '[\u24bc-\u2c1b]' THEN t := translate(t, 'ⒼⒽⒾⒿⓀⓁⓂⓃⓄⓅⓆⓇⓈⓉⓊⓋⓌⓍⓎⓏⰀⰁⰂⰃⰄⰅⰆⰇⰈⰉⰊⰋⰌⰍⰎⰏⰐⰑⰒⰓⰔⰕⰖⰗⰘⰙⰚⰛ', 'ⓖⓗⓘⓙⓚⓛⓜⓝⓞⓟⓠⓡⓢⓣⓤⓥⓦⓧⓨⓩⰰⰱⰲⰳⰴⰵⰶⰷⰸⰹⰺⰻⰼⰽⰾⰿⱀⱁⱂⱃⱄⱅⱆⱇⱈⱉⱊⱋ'); END IF;
    IF t ~ '[\u2c1c-\u2c9a]' THEN t := translate(t, 'ⰜⰝⰞⰟⰠⰡⰢⰣⰤⰥⰦⰧⰨⰩⰪⰫⰬⰭⰮⱠⱢⱣⱤⱧⱩⱫⱭⱮⱯⱰⱲⱵⱾⱿⲀⲂⲄⲆⲈⲊⲌⲎⲐⲒⲔⲖⲘⲚ', 'ⱌⱍⱎⱏⱐⱑⱒⱓⱔⱕⱖⱗⱘⱙⱚⱛⱜⱝⱞⱡɫᵽɽⱨⱪⱬɑɱɐɒⱳⱶȿɀⲁⲃⲅⲇⲉⲋⲍⲏⲑⲓⲕⲗⲙⲛ'); END IF;
    IF t ~ '[\u2c9c-\ua650]' THEN t := translate(t, 'ⲜⲞⲠⲢⲤⲦⲨⲪⲬⲮⲰⲲⲴⲶⲸⲺⲼⲾⳀⳂⳄⳆⳈⳊⳌⳎⳐⳒⳔⳖⳘⳚⳜⳞⳠⳢⳫⳭⳲꙀꙂꙄꙆꙈꙊꙌꙎꙐ', 'ⲝⲟⲡⲣⲥⲧⲩⲫⲭⲯⲱⲳⲵⲷⲹⲻⲽⲿⳁⳃⳅⳇⳉⳋⳍⳏⳑⳓⳕⳗⳙⳛⳝⳟⳡⳣⳬⳮⳳꙁꙃꙅꙇꙉꙋꙍꙏꙑ'); END IF;
    IF t ~ '[\ua652-\ua74e]' THEN t := translate(t, 'ꙒꙔꙖꙘꙚꙜꙞꙠꙢꙤꙦꙨꙪꙬꚀꚂꚄꚆꚈꚊꚌꚎꚐꚒꚔꚖꜢꜤꜦꜨꜪꜬꜮꜲꜴꜶꜸꜺꜼꜾꝀꝂꝄꝆꝈꝊꝌꝎ', 'ꙓꙕꙗꙙꙛꙝꙟꙡꙣꙥꙧꙩꙫꙭꚁꚃꚅꚇꚉꚋꚍꚏꚑꚓꚕꚗꜣꜥꜧꜩꜫꜭꜯꜳꜵꜷꜹꜻꜽꜿꝁꝃꝅꝇꝉꝋꝍꝏ'); END IF;
    IF t ~ '[\ua750-\uff2e]' THEN t := translate(t, 'ꝐꝒꝔꝖꝘꝚꝜꝞꝠꝢꝤꝦꝨꝪꝬꝮꝹꝻꝽꝾꞀꞂꞄꞆꞋꞍꞐꞒꞠꞢꞤꞦꞨꞪＡＢＣＤＥＦＧＨＩＪＫＬＭＮ', 'ꝑꝓꝕꝗꝙꝛꝝꝟꝡꝣꝥꝧꝩꝫꝭꝯꝺꝼᵹꝿꞁꞃꞅꞇꞌɥꞑꞓꞡꞣꞥꞧꞩɦａｂｃｄｅｆｇｈｉｊｋｌｍｎ'); END IF;
    IF t ~ '[\uff2f-\U00010421]' THEN t := translate(t, 'ＯＰＱＲＳＴＵＶＷＸＹＺ￾￿𐐀𐐁𐐂𐐃𐐄𐐅𐐆𐐇𐐈𐐉𐐊𐐋𐐌𐐍𐐎𐐏𐐐𐐑𐐒𐐓𐐔𐐕𐐖𐐗𐐘𐐙𐐚𐐛𐐜𐐝𐐞𐐟𐐠𐐡', 'ｏｐｑｒｓｔｕｖｗｘｙｚ��𐐨𐐩𐐪𐐫𐐬𐐭𐐮𐐯𐐰𐐱𐐲𐐳𐐴𐐵𐐶𐐷𐐸𐐹𐐺𐐻𐐼𐐽𐐾𐐿𐑀𐑁𐑂𐑃𐑄𐑅𐑆𐑇𐑈𐑉'); END IF;
    IF t ~ '[\U00010422-\U00010427]' THEN t := translate(t, '𐐢𐐣𐐤𐐥𐐦𐐧', '𐑊𐑋𐑌𐑍𐑎𐑏'); END IF;
    RETURN t;
END
$fold$;

ALTER TABLE messages
    ADD COLUMN search_text TEXT GENERATED ALWAYS AS
        (CASE WHEN deleted_at IS NULL THEN natter_fold(content) END) STORED,
    ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig,
            COALESCE(CASE WHEN deleted_at IS NULL THEN natter_fold(content) END, ''))) STORED;

-- pg_trgm ships with PostgreSQL (contrib) but may be missing or not installable by this
-- role: then search still works, by scanning the caller's messages.
DO $trgm$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_trgm is not available (%): message search will scan instead of using a trigram index', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX messages_search_trgm ON messages USING gin (search_text gin_trgm_ops)
            WHERE search_text IS NOT NULL;
    END IF;
END
$trgm$;
